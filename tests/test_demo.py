"""The README's first command, ``scripts/demo.sh``, runs the fleet's main job end to end: it
starts the fleet, submits the examples, streams one and prints the cost summary."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.fixtures import ROOT

pytestmark = pytest.mark.integration


def test_demo_runs_the_main_job_end_to_end() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_API_KEY")}
    out = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=240)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "every model runs on the simulated provider" in out.stdout
    assert out.stdout.count("submitted examples/") == len(list((ROOT / "examples").glob("*.json")))
    assert "[complete:" in out.stderr  # the live stream reached its final event (watch logs
    # its status lines on stderr, the text on stdout)
    assert "=== cost summary ===" in out.stdout and "total:" in out.stdout
