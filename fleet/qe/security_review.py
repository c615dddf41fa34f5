"""``security-review``: findings a tracker can file (CWE, severity, line, evidence, fix)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Result, TaskSpec, numbered_lines

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
    lines = max((numbered_lines(source) for _, source in task.all_code()), default=0)
    out = [f"{f.cwe} at line {f.line}: the code has {lines} lines"
           for f in result.findings if lines and f.line > lines]
    return out


SPEC = TaskSpec(TaskType.SECURITY_REVIEW, SecurityReviewResult, validate)
