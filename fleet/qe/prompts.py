"""Turns a QE task into the system and user prompt sent to a model."""

from __future__ import annotations

import json
from typing import NamedTuple

from fleet.contracts import QETask, TaskType

_INSTRUCTIONS: dict[TaskType, str] = {
    TaskType.TEST_GENERATION: "Write thorough, runnable unit tests for the code below. Cover "
    "normal paths, boundaries and error handling.",
    TaskType.COVERAGE_ANALYSIS: "Find the code paths the existing tests leave uncovered and say "
    "which tests would cover them.",
    TaskType.QUALITY_GATE: "Decide whether this change passes the quality gate. Answer PASS or "
    "FAIL first, then the reasons.",
    TaskType.FLAKY_TEST_HUNTING: "Find what makes this test flaky (ordering, timing, shared "
    "state, concurrency) and how to make it deterministic.",
    TaskType.SECURITY_REVIEW: "Review the code for security vulnerabilities; rank findings by "
    "severity with a fix for each.",
    TaskType.PERFORMANCE_TESTING: "Design performance tests for this code and name the likely "
    "bottlenecks.",
    TaskType.REGRESSION_ANALYSIS: "Assess which behaviour this change could regress and which "
    "tests to run.",
    TaskType.TEST_DATA_GENERATION: "Generate realistic test data for the description below.",
    TaskType.REQUIREMENTS_VALIDATION: "Check these requirements for testability, ambiguity and "
    "missing acceptance criteria.",
    TaskType.CODE_REVIEW: "Review this code for defects and maintainability.",
    TaskType.GENERAL: "Answer the quality-engineering request below.",
}

SYSTEM = "You are a senior quality engineer in an automated QE fleet. Be precise and concise."


class Prompt(NamedTuple):
    """What a model is sent: the system prompt and the user's text, whose first ``reusable``
    characters are the task's material (code, files, context). The material comes first so
    that a provider can cache it: a retry, a fallback's continuation, or another task on the
    same code pays the cache-read price for it (Anthropic: ``cache_control``; OpenAI caches
    prefixes by itself)."""

    system: str
    user: str
    reusable: int = 0

    @property
    def material(self) -> str:
        return self.user[:self.reusable]


def build_prompt(task: QETask) -> Prompt:
    material: list[str] = []
    for hint, source in task.all_code():
        material += [f"```{hint or ''}", source, "```", ""]
    if task.context:
        material += ["Context:", json.dumps(task.context, indent=2, default=str), ""]
    head = "\n".join(material) + "\n" if material else ""
    return Prompt(SYSTEM, head + "\n".join([_INSTRUCTIONS[task.type], "", task.description]),
                  len(head))
