"""Generated tests run in the sandbox: counted and measured when they behave, cut off from the
network and the worker's secrets, stopped at their limits, refused when they would leave it."""

from __future__ import annotations

import pytest

from fleet.config.schema import SandboxLimits
from fleet.contracts import QETask
from fleet.qe import sandbox
from fleet.qe.test_generation import TestGenerationResult
from fleet.qe.verify import run_generated_tests

pytestmark = pytest.mark.integration  # starts processes

CODE = "def add(a, b):\n    if a < 0:\n        return 0\n    return a + b\n"
TASK = QETask(type="test-generation", description="tests", code=CODE, language="python")
FAST = SandboxLimits(cpu_seconds=2, wall_seconds=20)


def run(content: str, limits: SandboxLimits = FAST, path: str = "tests/test_gen.py"):
    result = TestGenerationResult.model_validate({
        "test_file": {"path": path, "content": content}, "framework": "pytest",
        "cases": [{"name": "test"}]})
    return run_generated_tests(result, TASK, limits)


def test_tests_are_counted_and_the_code_under_tests_coverage_measured() -> None:
    ran = run("from code_under_test import add\n\n\ndef test_adds():\n    assert add(1, 2) == 3\n"
              "\n\ndef test_wrong():\n    assert add(1, 1) == 3\n")
    assert (ran.status, ran.passed, ran.failed, ran.errors) == ("ran", 1, 1, 0)
    assert ran.coverage_percent == 75.0  # 3 of 4 lines: the negative branch is never taken
    assert ran.problem == ""  # a failing test may have found a bug: reported, not refused


def test_a_file_that_does_not_import_is_a_problem_the_cascade_can_retry() -> None:
    ran = run("from code_under_test import subtract\n")
    assert ran.errors == 1 and "cannot import name 'subtract'" in ran.problem


def test_no_network_and_no_secrets_inside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    ran = run("import os\nimport socket\n\nimport pytest\n\n\ndef test_offline():\n"
              "    with pytest.raises(OSError):\n"
              "        socket.create_connection(('127.0.0.1', 6379), timeout=2)\n\n\n"
              "def test_no_secrets():\n    assert not any('KEY' in k for k in os.environ)\n")
    assert (ran.passed, ran.failed) == (2, 0), ran.detail


@pytest.mark.parametrize(("body", "limits", "detail"), [
    ("    while True:\n        pass\n", FAST, "signal"),
    ("    import time\n    time.sleep(60)\n", SandboxLimits(wall_seconds=2), "over 2 s"),
])
def test_a_runaway_test_is_stopped_at_its_limit(body: str, limits: SandboxLimits,
                                               detail: str) -> None:
    ran = run(f"def test_runaway():\n{body}", limits)
    assert ran.status == "stopped" and detail in ran.detail and "stopped" in ran.problem


def test_memory_beyond_the_limit_is_refused_to_the_test_not_the_worker() -> None:
    ran = run("def test_hog():\n    bytearray(4 << 30)\n", SandboxLimits(memory_mb=512))
    assert (ran.status, ran.failed) == ("ran", 1) and "MemoryError" in ran.detail


@pytest.mark.parametrize("path", ["../escape.py", "/tmp/abs.py", "code_under_test.py"])
def test_a_path_outside_the_sandbox_or_over_the_code_is_refused(path: str) -> None:
    ran = run("def test_x():\n    pass\n", path=path)
    assert ran.status == "refused" and ran.problem == ""


def test_without_network_isolation_it_refuses_unless_allowed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "network_isolation", lambda: None)
    refused = run("def test_x():\n    pass\n")
    assert refused.status == "refused" and "allowNetwork" in refused.detail
    allowed = run("def test_x():\n    pass\n", SandboxLimits(allow_network=True))
    assert (allowed.status, allowed.passed) == ("ran", 1)
