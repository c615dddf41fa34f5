"""Flower, as operators run it, in front of a real worker: it follows the fleet's tasks from
their Celery events (JSON only) and keeps doing so after the fleet's own ``cost.tracked``
events, which once carried a timestamp that broke Celery's event receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.backends import keys
from tests.fixtures import http_process
from tests.harness import wait_result
from tests.test_end_to_end import task_payload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def flower(services: Any) -> Iterator[tuple[httpx.Client, Path]]:
    with http_process(["celery", "-A", "fleet.app", "flower", "--address=127.0.0.1"],
                      "flower", "/healthcheck",
                      env={"FLOWER_UNAUTHENTICATED_API": "true"}) as server:
        yield server


def task_info(client: httpx.Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/api/task/info/{task_id}")
    return response.json() if response.status_code == 200 else {}


def test_flower_follows_fleet_tasks_through_cost_events(worker, bare_client, redis_client,
                                                         flower) -> None:
    client, log_path = flower
    time.sleep(1.0)  # Flower subscribes to events once it is up
    ids = []
    for i in range(3):  # each task also sends cost.tracked; Flower must keep up after them
        payload = task_payload()
        if i == 2:  # held by "another attempt" for a second: execution is retried once
            redis_client.set(keys.lease(payload["id"]), "elsewhere", px=1000)
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
        # What Flower shows of the arguments: the short summary, not the task's code, after a
        # retry too.
        assert "'type': 'test-generation'" in info["kwargs"] and "def parse" not in \
            info["kwargs"]
        assert len(info["result"]) < 500  # the summary fields, the text cut to a few words
    dispatched = [task_info(client, t["uuid"]) for t in client.get(
        "/api/tasks", params={"taskname": "fleet.dispatch", "limit": 10}).json().values()]
    assert dispatched and all(d["kwargs"] == "{'task': '(not shown)'}" for d in dispatched)
    assert infos[2]["retries"] == 1
    log = log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]
