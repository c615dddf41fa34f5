"""``security-review``: findings a tracker can file (CWE, severity, line, evidence, fix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Result, TaskSpec, reference_problems

Severity = Literal["critical", "high", "medium", "low", "info"]


class Finding(Result):
    cwe: str = Field(pattern=r"^CWE-[1-9][0-9]{0,4}$")
    severity: Severity
    line: int = Field(ge=1)
    evidence: str = Field(min_length=1, max_length=4000)
    fix: str = Field(min_length=1, max_length=4000)


class SecurityReviewResult(Result):
    findings: list[Finding] = Field(default_factory=list, max_length=500)


def validate(result: SecurityReviewResult, task: QETask) -> list[str]:
    return reference_problems(task, [(None, f.line) for f in result.findings])


SPEC = TaskSpec(TaskType.SECURITY_REVIEW, SecurityReviewResult, validate)
