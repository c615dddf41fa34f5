"""``code-review``: findings on the given code (file, line, severity, category), each a thing a
reviewer would comment on, and a summary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Result, TaskSpec, reference_problems

Severity = Literal["blocker", "major", "minor", "nit"]
Category = Literal["bug", "error handling", "maintainability", "performance", "readability",
                   "testability", "security", "style"]


class ReviewFinding(Result):
    file: str | None = Field(default=None, max_length=1024)
    line: int = Field(ge=1)
    severity: Severity
    category: Category
    message: str = Field(min_length=1, max_length=4000)
    suggestion: str = Field(default="", max_length=4000)


class CodeReviewResult(Result):
    findings: list[ReviewFinding] = Field(default_factory=list, max_length=500)
    summary: str = Field(min_length=1, max_length=4000)


def validate(result: CodeReviewResult, task: QETask) -> list[str]:
    return reference_problems(task, [(f.file, f.line) for f in result.findings])


SPEC = TaskSpec(TaskType.CODE_REVIEW, CodeReviewResult, validate)
