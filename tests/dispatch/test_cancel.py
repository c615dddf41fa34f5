"""Cancelling a task: one no attempt runs yet ends at once (its stream, its reservation) and a
worker that gets it later does not run it; one mid-stream stops within a second or so, its
stream ends with TASK_004, what it streamed is billed and the rest of its reservation freed."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from fleet.backends import keys
from fleet.contracts import QETask
from fleet.dispatch.cancel import cancel_task
from fleet.dispatch.route import submit
from fleet.streaming.subscribe import read_log
from tests.fixtures import WorkerProcess

pytestmark = pytest.mark.integration

SLOW = {"FLEET_SIM_TTFT_MS": "50", "FLEET_SIM_TOKENS_PER_SECOND": "20",
        "FLEET_SIM_OUTPUT_TOKENS": "400"}
RESERVATIONS = keys.BUDGET_RESERVATIONS


def task(model: str) -> QETask:
    return QETask(id=f"cancel-{uuid.uuid4().hex[:10]}", type="general",
                  description="Explain this flaky test.", preferred_model=model,
                  max_output_tokens=400)


def wait_for(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_task_no_attempt_runs_yet_ends_at_once_and_never_runs(fleet, redis_client, pg) -> None:
    queued = task("claude-opus-4")
    submit(queued)  # no worker consumes its queue yet
    assert redis_client.hget(RESERVATIONS, queued.id) is not None
    assert cancel_task(fleet, queued.id) == "ended"
    [event] = read_log(redis_client, queued.id)
    assert (event["type"], event["seq"], event["data"]["code"]) == ("error", 0, "TASK_004")
    assert redis_client.hget(RESERVATIONS, queued.id) is None
    assert cancel_task(fleet, queued.id) == "finished"  # a second cancel changes nothing
    worker = WorkerProcess(["model.claude-opus-4"], "cancel-late", SLOW)
    try:  # the message reaches a worker, which finds the stream ended and does not run it
        wait_for(lambda: redis_client.hget(keys.OUTBOX, queued.id) is None)
        time.sleep(0.5)
    finally:
        worker.stop()
    assert [e["type"] for e in read_log(redis_client, queued.id)] == ["error"]
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = %s",
                      (queued.id,)).fetchone()[0] == 0


@pytest.mark.parametrize("engine", ["threads", "asyncio"])
def test_a_running_task_stops_bills_what_it_streamed_and_frees_the_rest(
        fleet, redis_client, pg, engine: str) -> None:
    worker = WorkerProcess(["model.claude-sonnet-4.5"], "cancel-running",
                           SLOW | {"STREAMING_ENGINE": engine})
    try:
        running = task("claude-sonnet-4.5")
        submit(running)
        wait_for(lambda: any(e["type"] == "chunk" for e in read_log(redis_client, running.id)))
        assert cancel_task(fleet, running.id) == "running"
        cancelled_at = time.monotonic()
        wait_for(lambda: read_log(redis_client, running.id)[-1]["type"] == "error")
        stopped_after = time.monotonic() - cancelled_at
        wait_for(lambda: not redis_client.exists(keys.lease(running.id)))
    finally:
        worker.stop()
    events = read_log(redis_client, running.id)
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[-1]["data"]["code"] == "TASK_004"
    assert sum(e["type"] == "chunk" for e in events) >= 1
    assert stopped_after < 5, stopped_after  # not the 20 s the answer would have taken
    assert redis_client.hget(RESERVATIONS, running.id) is None
    [(estimated, output_tokens, cost)] = pg.execute(
        "SELECT estimated, output_tokens, cost_usd FROM cost_entries WHERE task_id = %s",
        (running.id,)).fetchall()
    assert estimated is True and 0 < output_tokens < 400 and cost > 0
