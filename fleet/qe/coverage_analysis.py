"""``coverage-analysis``: the gaps a coverage report shows (``context.coverage``: coverage.py
JSON, Cobertura XML or lcov), each pointing at lines the report says are uncovered."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.coverage_report import Report, find_file, ranges, read_report
from fleet.qe.spec import Inputs, Result, TaskSpec


class CoverageInputs(Inputs):
    coverage: dict[str, Any] | str | None = Field(default=None, description=(
        "the coverage report: coverage.py JSON (an object or its text), Cobertura XML or lcov; "
        "without one, gaps are judged from the code alone and not checked against a report"))


class Gap(Result):
    file: str = Field(min_length=1, max_length=1024)
    lines: list[int] = Field(min_length=1, max_length=2000)
    branch: bool = Field(default=False, description="a branch left untaken on these lines")
    why: str = Field(min_length=1, max_length=2000, description="why the gap matters")
    suggested_test: str = Field(min_length=1, max_length=4000)


class CoverageAnalysisResult(Result):
    gaps: list[Gap] = Field(default_factory=list, max_length=500)
    summary: str = Field(min_length=1, max_length=4000)


def _report(task: QETask) -> Report | None:
    given = task.context.get("coverage")
    return read_report(given) if given is not None else None


def accept(task: QETask) -> None:
    _report(task)


def brief(task: QETask) -> str:
    """Each file's uncovered and partly covered lines: the report as a model needs it."""
    report = _report(task)
    if not report:
        return ""
    lines = ["Coverage report (uncovered lines per file):"]
    for path, cover in sorted(report.items()):
        line = f"- {path}: {cover.percent:.0f}% covered"
        if cover.missing:
            line += f"; uncovered lines {ranges(cover.missing)}"
        if cover.partial:
            line += f"; branches untaken at lines {ranges(cover.partial)}"
        lines.append(line)
    return "\n".join(lines)


def validate(result: CoverageAnalysisResult, task: QETask) -> list[str]:
    report = _report(task)
    if report is None:
        return []
    problems = []
    for gap in result.gaps:
        cover = find_file(report, gap.file)
        if cover is None:
            problems.append(f"{gap.file} is not in the coverage report")
            continue
        uncovered = cover.missing | cover.partial
        covered = sorted(set(gap.lines) - uncovered)
        if covered:
            problems.append(f"{gap.file} lines {ranges(set(covered))} are not uncovered "
                            "in the report")
    return problems


SPEC = TaskSpec(TaskType.COVERAGE_ANALYSIS, CoverageAnalysisResult, validate,
                inputs=CoverageInputs, accept=accept, brief=brief, summarised=("coverage",))
