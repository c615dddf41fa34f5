"""The example project is real: its tests pass, and its checked-in coverage report is what
coverage.py reports for them today (the demo's coverage analysis and gate rely on it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.fixtures import ROOT

pytestmark = pytest.mark.integration  # runs the project's tests in a subprocess

PROJECT = ROOT / "examples" / "project"


def test_the_checked_in_coverage_report_matches_a_fresh_run(tmp_path) -> None:
    shutil.copytree(PROJECT, tmp_path / "project", ignore=shutil.ignore_patterns("coverage.json"))
    run = subprocess.run(
        f"{sys.executable} -m coverage run -m pytest -q -p no:cacheprovider && "
        f"{sys.executable} -m coverage json -o fresh.json", shell=True,
        cwd=tmp_path / "project", capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    fresh = json.loads((tmp_path / "project" / "fresh.json").read_text())["files"]
    kept = json.loads((PROJECT / "coverage.json").read_text())["files"]
    assert {f: e["missing_lines"] for f, e in fresh.items()} == \
        {f: e["missing_lines"] for f, e in kept.items()}
    assert kept["src/shop/cart.py"]["missing_lines"]  # it has gaps to find
