"""``verify: run`` for Python test generation: the generated test file run with pytest against
the given code in a sandbox, reporting passed / failed / errors and the line coverage of the
code under test (coverage.py)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from fleet.config.schema import SandboxLimits
from fleet.contracts import QETask
from fleet.qe.sandbox import Sandbox, SandboxRefused, sandbox
from fleet.qe.test_generation import TestGenerationResult, code_files


@dataclass(frozen=True)
class Verification:
    status: Literal["ran", "stopped", "refused"]  # stopped: at its time, CPU or memory limit
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    coverage_percent: float | None = None  # lines of the code under test the tests ran
    detail: str = ""  # why it was refused, or the end of pytest's output

    @property
    def problem(self) -> str:
        """Why the test file does not run (empty when it does; failing tests are reported,
        not refused: they may have found a bug)."""
        if self.status == "stopped":
            return f"the generated tests were stopped: {self.detail}"
        if self.status == "ran" and (self.errors or not self.passed + self.failed):
            lines = self.detail.strip().splitlines()
            said = [line[1:].strip() for line in lines if line.startswith("E ")] or lines
            return (f"the generated tests do not run ({self.errors} errors): "
                    + " | ".join(said[-3:]))
        return ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _counts(junit: bytes | None) -> tuple[int, int, int, int]:
    if junit is None:
        return 0, 0, 0, 0
    try:
        root = fromstring(junit)
    except (DefusedXmlException, SyntaxError):
        return 0, 0, 1, 0
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = failed = errors = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", "0"))
        failed += int(suite.get("failures", "0"))
        errors += int(suite.get("errors", "0"))
        skipped += int(suite.get("skipped", "0"))
    return total - failed - errors - skipped, failed, errors, skipped


def _coverage(box: Sandbox) -> float:
    """Line coverage of the code under test (0 when the tests never ran any of it)."""
    raw = box.read("coverage.json")
    try:
        return round(float(json.loads(raw)["totals"]["percent_covered"]), 1) if raw else 0.0
    except (ValueError, KeyError, TypeError):
        return 0.0


def run_generated_tests(result: TestGenerationResult, task: QETask,
                        limits: SandboxLimits) -> Verification:
    """Run the result's test file against the task's code under ``limits``."""
    code = code_files(task)
    test_path = result.test_file.path
    if not test_path.endswith(".py") or test_path in code:
        return Verification("refused", detail=f"not a separate Python test file: {test_path}")
    include = "--include=" + ",".join(code) if code else "--include=__none__"
    python = [sys.executable, "-m", "coverage"]
    try:
        with sandbox(code | {test_path: result.test_file.content}, limits) as box:
            pytest = box.run([*python, "run", "--data-file=.coverage", include,
                              "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir=.",
                              "-o", "pythonpath=. src", "--junitxml=junit.xml", test_path])
            if pytest.timed_out:
                return Verification("stopped", detail=f"over {limits.wall_seconds} s")
            if pytest.returncode < 0:  # killed: SIGXCPU / SIGKILL at the CPU limit, or memory
                return Verification("stopped", detail=f"signal {-pytest.returncode} (CPU "
                                    f"{limits.cpu_seconds} s / memory {limits.memory_mb} MB)")
            box.run([*python, "json", "--data-file=.coverage", "-o", "coverage.json", include])
            passed, failed, errors, skipped = _counts(box.read("junit.xml"))
            if pytest.returncode not in (0, 1) and not errors:  # pytest itself failed
                errors = 1
            return Verification("ran", passed, failed, errors, skipped, _coverage(box),
                                pytest.output)
    except SandboxRefused as refused:
        return Verification("refused", detail=str(refused))
