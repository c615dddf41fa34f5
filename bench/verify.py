"""What ``verify: run`` costs: the example project's tests run as generated tests through the
sandbox (unshare -rn, prlimit, clean environment), against the same coverage + pytest commands
run plainly in a temporary directory (same plugins: none auto-loaded), alternating, in the
same run."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fleet.config.schema import SandboxLimits
from fleet.contracts import QETask
from fleet.qe.test_generation import TestGenerationResult
from fleet.qe.verify import run_generated_tests

PROJECT = Path(__file__).resolve().parent.parent / "examples" / "project"
SOURCES = ("src/shop/cart.py", "src/shop/pricing.py")


def _plain(files: dict[str, str], test_path: str) -> float:
    with tempfile.TemporaryDirectory() as root:
        for name, text in files.items():
            (Path(root) / name).parent.mkdir(parents=True, exist_ok=True)
            (Path(root) / name).write_text(text)
        started = time.perf_counter()
        python = [sys.executable, "-m", "coverage"]
        env = {"PATH": os.defpath, "HOME": root, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        subprocess.run([*python, "run", "--include=" + ",".join(SOURCES), "-m", "pytest", "-q",
                        "-p", "no:cacheprovider", "-o", "pythonpath=. src", test_path],
                       cwd=root, capture_output=True, check=True, env=env)
        subprocess.run([*python, "json", "-o", "coverage.json"], cwd=root, capture_output=True,
                       env=env)
        return time.perf_counter() - started


def run(rounds: int = 20) -> dict[str, float]:
    sources = {name: (PROJECT / name).read_text() for name in SOURCES}
    test_path = "tests/test_cart.py"
    tests = (PROJECT / test_path).read_text()
    task = QETask(type="test-generation", description="tests",
                  files=[{"path": n, "content": c} for n, c in sources.items()])
    result = TestGenerationResult.model_validate({
        "test_file": {"path": test_path, "content": tests}, "framework": "pytest",
        "cases": [{"name": "test_total_adds_tax_to_the_subtotal"}]})
    sandboxed, plain = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        verification = run_generated_tests(result, task, SandboxLimits())
        sandboxed.append(time.perf_counter() - started)
        assert verification.status == "ran" and verification.passed == 2, verification
        plain.append(_plain(sources | {test_path: tests}, test_path))
    return {"rounds": rounds, "sandboxed_p50_s": statistics.median(sandboxed),
            "plain_p50_s": statistics.median(plain),
            "ratio": statistics.median(s / p for s, p in zip(sandboxed, plain, strict=True)),
            "coverage_percent": verification.coverage_percent or 0.0}


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=2))
