"""``performance-testing``: a plan (scenarios with load, duration, metrics and pass criteria)
and the likely bottlenecks in the given code."""

from __future__ import annotations

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Result, TaskSpec, reference_problems


class LoadScenario(Result):
    name: str = Field(min_length=1, max_length=200)
    workload: str = Field(min_length=1, max_length=2000, description="what the users do")
    load: str = Field(min_length=1, max_length=500, description="e.g. 200 rps ramp over 5 min")
    duration_s: int = Field(ge=1, le=7 * 86400)
    metrics: list[str] = Field(min_length=1, max_length=20)
    pass_criteria: list[str] = Field(min_length=1, max_length=20)


class Bottleneck(Result):
    file: str | None = Field(default=None, max_length=1024)
    line: int | None = Field(default=None, ge=1)
    why: str = Field(min_length=1, max_length=4000)


class PerformancePlan(Result):
    scenarios: list[LoadScenario] = Field(min_length=1, max_length=50)
    bottlenecks: list[Bottleneck] = Field(default_factory=list, max_length=100)
    tools: list[str] = Field(default_factory=list, max_length=20)


def validate(result: PerformancePlan, task: QETask) -> list[str]:
    return reference_problems(task, [(b.file, b.line) for b in result.bottlenecks])


SPEC = TaskSpec(TaskType.PERFORMANCE_TESTING, PerformancePlan, validate)
