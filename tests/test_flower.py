"""Flower, as operators run it, in front of a real worker: it follows the fleet's tasks from
their Celery events (JSON only) and keeps doing so after the fleet's own ``cost.tracked``
events, which once carried a timestamp that broke Celery's event receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.testing import ROOT, free_port, wait_result
from tests.test_end_to_end import task_payload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def flower() -> Iterator[tuple[httpx.Client, Path]]:
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / f"fleet-flower-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fleet.app", "flower",
             "--address=127.0.0.1", f"--port={port}"], cwd=ROOT,
            env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"}, stdout=log,
            stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                if client.get("/healthcheck").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "flower did not start"
            time.sleep(0.2)
        yield client, log_path
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def task_info(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/api/task/info/{task_id}")
    return response.json() if response.status_code == 200 else {}


def test_flower_follows_fleet_tasks_through_cost_events(worker, bare_client, flower) -> None:
    client, log_path = flower
    time.sleep(1.0)  # Flower subscribes to events once it is up
    ids = []
    for _ in range(3):  # each task also sends cost.tracked; Flower must keep up after them
        payload = task_payload()
        bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                              queue="fleet.dispatch")
        wait_result(bare_client.AsyncResult(payload["id"]), 30)
        ids.append(payload["id"])
    deadline = time.monotonic() + 20
    infos = [task_info(client, i) for i in ids]
    while not all(i.get("state") == "SUCCESS" for i in infos):
        assert time.monotonic() < deadline, infos
        time.sleep(0.3)
        infos = [task_info(client, i) for i in ids]
    for info in infos:
        assert info["name"] == "fleet.execute"
        assert info["worker"].startswith(f"{worker.name}@")
        assert "'status': 'complete'" in info["result"]
        # What Flower shows of the arguments: the short summary, not the task's code.
        assert "'type': 'test-generation'" in info["kwargs"] and "def parse" not in \
            info["kwargs"]
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
