"""``fleet watch`` as a person sees it: in a real terminal (tmux), the live panel while a task
streams, then its result rendered — here a quality gate streamed into Redis by this test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest

from fleet.backends.keys import stream_channel, stream_log
from tests.fixtures import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("services"),
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def screen(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], check=True,
                          capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while text not in (shown := screen(session)):
        assert time.monotonic() < deadline, f"{text!r} never shown:\n{shown}"
        time.sleep(0.1)
    return shown


def emit(redis_client: Any, task_id: str, seq: int, type_: str, data: dict[str, Any]) -> None:
    event = json.dumps({"task_id": task_id, "seq": seq, "type": type_,
                        "model": "claude-haiku-4", "data": data, "ts": time.time()})
    redis_client.xadd(stream_log(task_id), {"e": event}, id=f"{seq + 1}-0")
    redis_client.publish(stream_channel(task_id), event)


def test_watch_in_a_terminal_shows_the_panel_then_the_result(redis_client: Any) -> None:
    task_id, session = f"tty-{uuid.uuid4().hex[:8]}", f"fleet-{uuid.uuid4().hex[:8]}"
    command = f"{sys.executable} -m fleet.cli watch {task_id}; sleep 60"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "40",
                    "-c", str(ROOT), "-e", f"FLEET_REDIS_URL={os.environ['FLEET_REDIS_URL']}",
                    command], check=True)
    try:
        wait_for(session, f"waiting for the first event of {task_id}")
        emit(redis_client, task_id, 0, "start", {"attempt": 1})
        emit(redis_client, task_id, 1, "chunk", {"text": "Checking coverage against policy"})
        panel = wait_for(session, "Checking coverage against policy")
        assert f"task {task_id}" in panel and "claude-haiku-4" in panel
        assert "attempt 1" in panel
        emit(redis_client, task_id, 2, "complete", {
            "valid": True, "cost_usd": "0.0004", "usage": {"input_tokens": 90,
                                                            "output_tokens": 12},
            "result": {"decision": "FAIL", "reasons": ["coverage 71 < 80"],
                       "blocking": [{"rule": "coverage >= 80", "actual": 71,
                                     "threshold": 80}]}})
        result = wait_for(session, "gate: FAIL")
        assert "coverage 71 < 80" in result and "coverage >= 80" in result
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
