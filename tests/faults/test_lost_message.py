"""Execute messages the broker lost come back from the outbox; slow ones are not run twice.

kombu's Redis transport pops a message before it records it as unacknowledged: a worker
killed between the two, or a Redis shutting down, loses the message. Here the broker "loses"
every message outright (the caller's send does nothing), and the workers' outbox sweep must
send them again; a message that only waited in its queue gets a second copy, and the task
still runs once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from fleet.backends import keys
from fleet.dispatch import outbox
from fleet.dispatch.outbox import Message
from fleet.dispatch.route import submit
from tests.fixtures import WorkerProcess, assert_ran_once
from tests.harness import wait_result

pytestmark = pytest.mark.integration

ENV = {"FLEET_REDELIVER_AFTER": "1", "FLEET_SIM_TTFT_MS": "0",
       "FLEET_SIM_TOKENS_PER_SECOND": "0", "FLEET_SIM_OUTPUT_TOKENS": "20"}


def _body(tag: str) -> dict[str, Any]:
    return {"id": f"{tag}-{uuid.uuid4().hex[:8]}", "type": "quality-gate",
            "description": "Gate: PASS?", "max_output_tokens": 20,
            "preferred_model": "claude-haiku-4"}


def test_execute_messages_the_broker_lost_are_sent_again(monkeypatch: pytest.MonkeyPatch,
                                                         bare_client: Any, redis_client: Any,
                                                         pg: Any) -> None:
    monkeypatch.setenv("FLEET_REDELIVER_AFTER", "1")
    monkeypatch.setattr(outbox, "send_execute", lambda message: None)  # lost on the way
    bodies = [_body("lost") for _ in range(5)]
    for body in bodies:
        submit(body)
    ids = [b["id"] for b in bodies]
    assert all(redis_client.hget(keys.OUTBOX, task_id) for task_id in ids)
    worker = WorkerProcess(["model.claude-haiku-4"], "lost-exec", ENV)
    try:
        results = {task_id: wait_result(bare_client.AsyncResult(task_id), 30)
                   for task_id in ids}
    finally:
        worker.stop()
    assert all(r["status"] == "complete" for r in results.values())
    for task_id in ids:
        assert_ran_once(task_id, redis_client, pg)
    assert "presumed lost and was sent again (1 of 3)" in worker.log_path.read_text()


def test_a_message_that_only_waited_is_not_run_twice(monkeypatch: pytest.MonkeyPatch,
                                                     bare_client: Any, redis_client: Any,
                                                     pg: Any) -> None:
    monkeypatch.setenv("FLEET_REDELIVER_AFTER", "1")
    body = _body("slow")
    submit(body)
    task_id = body["id"]
    # A worker that sweeps but does not consume the model queue: the message waits past its
    # due time and a second copy joins it in the queue.
    sweeper = WorkerProcess(["fleet.dispatch"], "slow-sweeper", ENV)
    try:
        deadline = time.monotonic() + 20
        while True:
            raw = redis_client.hget(keys.OUTBOX, task_id)
            if raw is not None and Message.from_json(task_id, raw).redelivered >= 1:
                break
            assert time.monotonic() < deadline, "the sweep did not send a second copy"
            time.sleep(0.2)
        worker = WorkerProcess(["model.claude-haiku-4"], "slow-exec", ENV)
        try:
            result = wait_result(bare_client.AsyncResult(task_id), 30)
            assert result["status"] == "complete"
            assert_ran_once(task_id, redis_client, pg)  # with the worker there to take the copies
        finally:
            worker.stop()
    finally:
        sweeper.stop()
    # The copies did reach the worker, which ran the task once all the same.
    log = worker.log_path.read_text(errors="replace")
    assert log.count(f"fleet.execute[{task_id}] received") >= 2


def test_a_retry_message_the_broker_lost_is_sent_again(monkeypatch: pytest.MonkeyPatch,
                                                       bare_client: Any, redis_client: Any,
                                                       pg: Any) -> None:
    monkeypatch.setenv("FLEET_REDELIVER_AFTER", "1")
    body = _body("retry")
    task_id = body["id"]
    # Another attempt holds the task's lease: the worker's attempt waits for it by a retry.
    redis_client.set(keys.lease(task_id), "another-attempt", px=2000)
    first = WorkerProcess(["model.claude-haiku-4"], "retry-exec", ENV)
    try:
        submit(body)
        deadline = time.monotonic() + 20
        while f"task {task_id} is running elsewhere" not in first.log_path.read_text():
            assert time.monotonic() < deadline, "the attempt did not retry"
            time.sleep(0.1)
        assert redis_client.hget(keys.OUTBOX, task_id) is not None  # the retry's copy
    finally:
        first.kill()
    # The worker died holding the retry message, and the broker kept no record of it (what
    # kombu's pop-then-record hole leaves behind).
    for tag, raw in redis_client.hscan_iter("unacked"):
        if task_id.encode() in raw:
            redis_client.hdel("unacked", tag)
            redis_client.zrem("unacked_index", tag)
    second = WorkerProcess(["model.claude-haiku-4"], "retry-exec-2", ENV)
    try:
        result = wait_result(bare_client.AsyncResult(task_id), 30)
    finally:
        second.stop()
    assert result["status"] == "complete"
    assert_ran_once(task_id, redis_client, pg)
    assert "presumed lost and was sent again (1 of 3)" in second.log_path.read_text()
