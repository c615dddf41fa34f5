"""``flaky-test-hunting``: suspects with a cause from a fixed set and evidence that quotes the
code or logs the task gave."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Inputs, Result, TaskSpec

Cause = Literal["ordering", "timing", "shared state", "concurrency", "external dependency",
                "randomness", "resource leak"]


class FlakyTestInputs(Inputs):
    logs: str | None = Field(default=None, max_length=1 << 20,
                             description="run history or failure logs")


class Suspect(Result):
    cause: Cause
    evidence: list[str] = Field(min_length=1, max_length=20)
    fix: str = Field(min_length=1, max_length=4000)


class FlakyTestResult(Result):
    suspects: list[Suspect] = Field(min_length=1, max_length=20)


def validate(result: FlakyTestResult, task: QETask) -> list[str]:
    given = "\n".join([task.description, *(s for _, s in task.all_code()),
                       str(task.context.get("logs", ""))])
    quoted = [e for s in result.suspects for e in s.evidence]
    invented = [e[:60] for e in quoted if e.strip() not in given]
    return [f"evidence not found in the test or its logs: {invented[:3]}"] if invented else []


SPEC = TaskSpec(TaskType.FLAKY_TEST_HUNTING, FlakyTestResult, validate, FlakyTestInputs)
