"""``regression-analysis``: how risky a change is, where it could regress, and which tests to
run for it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Result, TaskSpec, reference_problems

Risk = Literal["low", "medium", "high", "critical"]


class RiskArea(Result):
    area: str = Field(min_length=1, max_length=500, description="behaviour that could regress")
    file: str | None = Field(default=None, max_length=1024)
    line: int | None = Field(default=None, ge=1)
    risk: Risk
    why: str = Field(min_length=1, max_length=4000)


class RegressionAnalysisResult(Result):
    risk: Risk
    areas: list[RiskArea] = Field(default_factory=list, max_length=200)
    tests_to_run: list[str] = Field(default_factory=list, max_length=500,
                                    description="test names, files or suites, most important first")


_ORDER = ("low", "medium", "high", "critical")


def validate(result: RegressionAnalysisResult, task: QETask) -> list[str]:
    problems = reference_problems(task, [(a.file, a.line) for a in result.areas])
    worst = max((_ORDER.index(a.risk) for a in result.areas), default=0)
    if _ORDER.index(result.risk) < worst:
        problems.append(f"overall risk {result.risk} is below its riskiest area "
                        f"({_ORDER[worst]})")
    if result.risk != "low" and not result.tests_to_run:
        problems.append(f"a {result.risk}-risk change with no tests to run")
    return problems


SPEC = TaskSpec(TaskType.REGRESSION_ANALYSIS, RegressionAnalysisResult, validate)
