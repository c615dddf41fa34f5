"""Task priority on the Redis broker: 0 is served first, 9 last (Celery's Redis convention),
through the real dispatcher path and a real worker."""

from __future__ import annotations

import pytest

from fleet.dispatch.route import submit
from fleet.streaming.subscribe import read_log
from tests.fixtures import WorkerProcess
from tests.harness import wait_result
from tests.test_end_to_end import task_payload

pytestmark = pytest.mark.integration


def test_an_urgent_task_overtakes_a_backlog(redis_client, bare_client) -> None:
    # Queued while no worker consumes the queue: a backlog of unhurried tasks, then one urgent.
    queued = [task_payload(priority=9, preferred_model="claude-haiku-4") for _ in range(5)]
    queued.append(task_payload(priority=0, preferred_model="claude-haiku-4"))
    for payload in queued:
        assert submit(payload).model_name == "claude-haiku-4"
    worker = WorkerProcess(["model.claude-haiku-4"], "priority", concurrency=1)
    try:
        for payload in queued:
            wait_result(bare_client.AsyncResult(payload["id"]), 30)
    finally:
        worker.stop()
    started = {p["id"]: read_log(redis_client, p["id"])[0]["ts"] for p in queued}
    order = sorted(started, key=started.__getitem__)
    assert order[0] == queued[-1]["id"]  # the urgent one ran first
    assert order[1:] == [p["id"] for p in queued[:-1]]  # the rest in the order sent
