"""``fleet up`` / ``down`` / ``status`` as a person runs them: every process started and ready,
stopped by ``fleet down`` (checked by pid), a killed worker reported while the rest keep
serving, Ctrl-C a warm stop of everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures import ROOT
from tests.harness import free_port

pytestmark = pytest.mark.integration


def fleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def up_args() -> list[str]:
    return ["--models", "claude-haiku-4", "--no-flower", "--gateway-port", str(free_port()),
            "--exporter-port", str(free_port())]


def test_up_detached_then_status_then_down_leaves_no_process(services, tmp_path) -> None:
    env = {**os.environ, "FLEET_RUN_DIR": str(tmp_path)}
    started = fleet("up", "--detach", *up_args(), env=env)
    assert started.returncode == 0, started.stderr[-2000:]
    pids = [pid for _, pid in json.loads((tmp_path / "fleet.json").read_text())]
    assert len(pids) == 5 and all(alive(pid) for pid in pids)  # dispatcher, worker, beat, …
    assert "✓ claude-haiku-4" in started.stderr and "stop with: fleet down" in started.stdout
    status = json.loads(fleet("status", "--json", env=env).stdout)
    haiku = next(q for q in status["queues"] if q["queue"] == "model.claude-haiku-4")
    assert haiku["consumers"] is True
    assert status["flags"] == {"multiModelRouter": True, "streaming": True}  # one truth
    submitted = fleet("submit", "--type", "code-review", "--description", "Review.",
                      "--code-file", str(ROOT / "examples" / "project" / "src" / "shop" /
                                         "pricing.py"), "--model", "claude-haiku-4", "--json",
                      env=env)
    task_id = json.loads(submitted.stdout)["task_id"]
    assert json.loads(submitted.stdout)["selection"]["modelName"] == "claude-haiku-4"
    watched = fleet("watch", task_id, "--json", "--timeout", "60", env=env)
    events = [json.loads(line) for line in watched.stdout.splitlines()]  # JSON lines
    assert watched.returncode == 0 and events[-1]["type"] == "complete"
    assert [e["seq"] for e in events] == list(range(len(events)))
    stopped = fleet("down", env=env)
    assert stopped.returncode == 0 and "5 processes stopped" in stopped.stdout
    assert not any(alive(pid) for pid in pids)
    assert fleet("down", env=env).stdout.startswith("no fleet started here")


def test_a_killed_worker_is_reported_and_ctrl_c_stops_the_rest(services, tmp_path) -> None:
    env = {**os.environ, "FLEET_RUN_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fleet.cli", "up", *up_args(),
                             "--no-gateway"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 90
        while not any("✓ claude-haiku-4" in line for line in lines):
            assert time.monotonic() < deadline, lines[-20:]
            lines.append(proc.stdout.readline())
        pids = dict(json.loads((tmp_path / "fleet.json").read_text()))
        os.kill(pids["claude-haiku-4"], signal.SIGKILL)
        while not any("claude-haiku-4 exited" in line for line in lines):
            assert time.monotonic() < deadline, lines[-20:]
            lines.append(proc.stdout.readline())
        assert "the rest keep going" in lines[-1]
        assert alive(pids["dispatcher"]) and proc.poll() is None
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "processes stopped" in rest
    assert not any(alive(pid) for pid in pids.values())
