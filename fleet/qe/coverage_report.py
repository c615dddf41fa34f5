"""Reading a coverage report (coverage.py JSON, Cobertura XML, lcov) into the lines each file
executed, missed and left partly branched: what a coverage-analysis answer is checked against."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fleet.errors import InvalidTask

MAX_REPORT_CHARS = 8 << 20


@dataclass
class FileCoverage:
    executed: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)
    partial: set[int] = field(default_factory=set)  # lines with a branch never taken

    @property
    def percent(self) -> float:
        total = len(self.executed) + len(self.missing)
        return 100.0 * len(self.executed) / total if total else 100.0


Report = dict[str, FileCoverage]


def _ints(values: Any) -> set[int]:
    return {v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0} \
        if isinstance(values, list) else set()


def _from_coverage_py(data: dict[str, Any]) -> Report:
    report: Report = {}
    for path, entry in (data.get("files") or {}).items():
        if not isinstance(entry, dict):
            continue
        partial = {pair[0] for pair in entry.get("missing_branches") or []
                   if isinstance(pair, list) and pair and isinstance(pair[0], int)}
        report[str(path)] = FileCoverage(_ints(entry.get("executed_lines")),
                                         _ints(entry.get("missing_lines")), partial)
    return report


def _from_cobertura(root: Element) -> Report:
    report: Report = {}
    for cls in root.iter("class"):
        cover = report.setdefault(cls.get("filename", ""), FileCoverage())
        for line in cls.iter("line"):
            try:
                number, hits = int(line.get("number", "0")), int(line.get("hits", "0"))
            except ValueError:
                continue
            (cover.executed if hits else cover.missing).add(number)
            condition = line.get("condition-coverage", "")
            if line.get("branch") == "true" and condition and not condition.startswith("100%"):
                cover.partial.add(number)
    report.pop("", None)
    return report


def _from_lcov(text: str) -> Report:
    report: Report = {}
    cover: FileCoverage | None = None
    for raw in text.splitlines():
        tag, _, value = raw.strip().partition(":")
        parts = value.split(",")
        try:
            if tag == "SF":
                cover = report.setdefault(value, FileCoverage())
            elif tag == "DA" and cover is not None:
                line, hits = int(parts[0]), int(parts[1])
                (cover.executed if hits else cover.missing).add(line)
            elif tag == "BRDA" and cover is not None and parts[3] in ("-", "0"):
                cover.partial.add(int(parts[0]))
            elif tag == "end_of_record":
                cover = None
        except (ValueError, IndexError):
            continue
    return report


def read_report(report: Any) -> Report:
    """The per-file coverage in ``report``: a coverage.py JSON object (or its text), Cobertura
    XML or lcov text. TASK_001 when it is none of them."""
    if isinstance(report, str):
        if len(report) > MAX_REPORT_CHARS:
            raise InvalidTask(f"coverage report is over {MAX_REPORT_CHARS} characters")
        text = report.lstrip()
        if text.startswith("<"):
            try:
                return _from_cobertura(fromstring(text))
            except (ParseError, DefusedXmlException) as exc:
                raise InvalidTask(f"coverage report: not valid XML ({exc})") from None
        if text.startswith("{"):
            try:
                report = json.loads(text)
            except ValueError as exc:
                raise InvalidTask(f"coverage report: not valid JSON ({exc})") from None
        elif "SF:" in text:
            return _from_lcov(text)
    if isinstance(report, dict) and isinstance(report.get("files"), dict):
        return _from_coverage_py(report)
    raise InvalidTask("coverage report: expected coverage.py JSON, Cobertura XML "
                               "or lcov")


def find_file(report: Report, path: str) -> FileCoverage | None:
    """The report's entry for ``path``, matching on whole trailing path components (a report
    names files relative to wherever coverage ran)."""
    path = path.strip().lstrip("./")
    for name, cover in report.items():
        name = name.lstrip("./")
        if name == path or name.endswith("/" + path) or path.endswith("/" + name):
            return cover
    return None


def ranges(lines: set[int]) -> str:
    """``{3, 4, 5, 9}`` → ``"3-5, 9"``."""
    out: list[str] = []
    for line in sorted(lines):
        if out and out[-1].rsplit("-", 1)[-1] == str(line - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{line}"
        else:
            out.append(str(line))
    return ", ".join(out)
