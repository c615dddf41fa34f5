"""Turns a QE task into the system and user prompt sent to a model."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, NamedTuple

from fleet.contracts import QETask, TaskType
from fleet.qe.chat import chat_prompt
from fleet.qe.results import SPECS

_INSTRUCTIONS: dict[TaskType, str] = {
    TaskType.TEST_GENERATION: "Write thorough, runnable unit tests for the code below. Cover "
    "normal paths, boundaries and error handling.",
    TaskType.COVERAGE_ANALYSIS: "Find the code paths the existing tests leave uncovered and say "
    "which tests would cover them.",
    TaskType.QUALITY_GATE: "Decide whether this change passes the quality gate: PASS, FAIL or "
    "WARN, with the reasons and each blocking rule (metric, actual value, threshold).",
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
    result_type: str | None = None  # the task type whose JSON result the prompt asks for

    @property
    def material(self) -> str:
        return self.user[:self.reusable]


def build_prompt(task: QETask) -> Prompt:
    messages = task.context.get("messages")
    if task.type is TaskType.GENERAL and isinstance(messages, list):
        return Prompt(*chat_prompt(messages))
    spec = SPECS.get(task.type)
    material: list[str] = []
    for hint, source in task.all_code():
        material += [f"```{hint or ''}", source, "```", ""]
    context = {k: v for k, v in task.context.items() if spec is None or k not in spec.summarised}
    if context:
        material += ["Context:", json.dumps(context, indent=2, default=str), ""]
    if spec is not None and spec.brief is not None and (brief := spec.brief(task)):
        material += [brief, ""]
    head = "\n".join(material) + "\n" if material else ""
    request = [_INSTRUCTIONS[task.type], "", task.description]
    if spec is not None:
        request += ["", _schema_request(task.type)]
    return Prompt(SYSTEM, head + "\n".join(request), len(head),
                  spec.task_type.value if spec is not None else None)


@cache
def result_schema(task_type: str) -> dict[str, Any]:
    """The JSON Schema of a type's result (what a provider is asked to fill natively)."""
    schema: dict[str, Any] = SPECS[TaskType(task_type)].result.model_json_schema()
    return schema


@cache
def _schema_request(task_type: TaskType) -> str:
    """The request for a type's JSON result: built once, it is on every task's path."""
    schema = json.dumps(result_schema(task_type.value), separators=(",", ":"))
    return ("Answer with one JSON object, in a ```json block, that matches this JSON Schema:\n"
            + schema)


def with_feedback(prompt: Prompt, problem: str) -> Prompt:
    """The same prompt after an answer that failed its check, saying what was wrong."""
    return prompt._replace(user=f"{prompt.user}\n\nYour previous answer was not valid: "
                                f"{problem}\nAnswer again with only the JSON object.")
