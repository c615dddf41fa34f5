"""The whole path through real processes: another service enqueues by name, a real worker
routes, executes and streams, Postgres gets the cost row, beat rolls it up."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from fleet.backends import keys
from tests.fixtures import MODEL_QUEUES
from tests.harness import wait_result

pytestmark = pytest.mark.integration


def collect(pubsub: Any, timeout: float = 30) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            continue
        events.append(json.loads(message["data"]))
        if events[-1]["type"] in ("complete", "error"):
            return events
    raise AssertionError(f"stream did not finish; got {len(events)} events")


def wait_until(predicate: Any, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def task_payload(**fields: Any) -> dict[str, Any]:
    return {"id": f"t-{uuid.uuid4().hex}", "type": "test-generation",
            "description": "Write unit tests for a function that parses ISO dates.",
            "code": "def parse(s):\n    y, m, d = s.split('-')\n"
                    "    return int(y), int(m), int(d)\n",
            "agent_id": "agent-qe-test-generator-001", "max_output_tokens": 300} | fields


def test_send_task_by_name_streams_in_order_and_prices(worker, bare_client, redis_client, pg):
    payload = task_payload()
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.stream_channel(payload['id']))

    selection = wait_result(bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                                                  queue="fleet.dispatch"), 30)
    events = collect(pubsub)

    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "start" and events[-1]["type"] == "complete"
    assert sum(e["type"] in ("complete", "error") for e in events) == 1
    chunks = [e for e in events if e["type"] == "chunk"]
    assert len(chunks) > 3, "a stream is many chunk events, not one message"
    assert all(e["task_id"] == payload["id"] and e["model"] == selection["modelName"]
               for e in events)
    result = wait_result(bare_client.AsyncResult(payload["id"]), 30)
    assert "".join(c["data"]["text"] for c in chunks) == result["text"]
    assert result["usage"]["output_tokens"] == 300

    row = pg.execute("SELECT attempt, model, provider, task_type, agent_id, input_tokens, "
                     "output_tokens, cost_usd FROM cost_entries WHERE task_id = %s",
                     (payload["id"],)).fetchall()
    assert len(row) == 1
    attempt, model, provider, task_type, agent_id, tin, tout, cost = row[0]
    assert (attempt, model, task_type, agent_id) == (
        1, selection["modelName"], "test-generation", "agent-qe-test-generator-001")
    assert provider == "anthropic"
    prices = selection["modelConfig"]["capabilities"]["costPer1kTokens"]
    expected = (tin * Decimal(str(prices["input"])) + tout * Decimal(str(prices["output"]))) / 1000
    assert cost == expected.quantize(Decimal("0.00000001"))
    assert Decimal(result["cost_usd"]) == cost

    def stored() -> Any:
        return pg.execute("SELECT model FROM routing_selections WHERE task_id = %s",
                          (payload["id"],)).fetchone()

    wait_until(lambda: stored() is not None, "the selection is written")
    assert stored()[0] == selection["modelName"]

    wait_result(bare_client.send_task("fleet.beat.aggregate_costs", queue="fleet.beat"), 30)
    totals = pg.execute("SELECT sum(requests), sum(output_tokens), sum(cost_usd) "
                        "FROM daily_cost_summaries").fetchone()
    raw = pg.execute("SELECT count(*), sum(output_tokens), sum(cost_usd) "
                     "FROM cost_entries").fetchone()
    assert totals == raw and totals[0] >= 1


def test_cost_tracked_event_has_the_seeds_shape(worker, bare_client, redis_client) -> None:
    payload = task_payload()
    events = redis_client.pubsub(ignore_subscribe_messages=True)
    events.subscribe("fleet:events")
    bare_client.send_task("fleet.dispatch", kwargs={"task": payload}, queue="fleet.dispatch")
    wait_result(bare_client.AsyncResult(payload["id"]), 30)
    deadline = time.monotonic() + 10
    tracked = None
    while tracked is None and time.monotonic() < deadline:
        message = events.get_message(timeout=1.0)
        if message:
            data = json.loads(message["data"])
            if data["type"] == "cost.tracked" and data["taskId"] == payload["id"]:
                tracked = data
    assert tracked is not None
    assert tracked["entryId"].startswith(f"cost-{payload['id']}")
    assert tracked["tokens"]["output"] == 300 and tracked["cost"] > 0
    assert tracked["taskType"] == "test-generation"
    assert tracked["agentId"] == "agent-qe-test-generator-001"
    daily = tracked["budgetStatus"]["daily"]
    assert daily["limit"] == 100.0 and daily["used"] > 0 and daily["percentUsed"] >= 0


def test_cost_tracked_is_a_celery_event_for_flower(worker, bare_client) -> None:
    """Flower and ``celery events`` receive cost.tracked, sent on the worker's own event
    dispatcher."""
    payload = task_payload()
    received: list[dict[str, Any]] = []
    ready = threading.Event()
    with bare_client.connection_for_read() as conn:
        receiver = bare_client.events.Receiver(conn, handlers={
            "cost.tracked": received.append})
        receiver.on_consume_ready = lambda *args, **kwargs: ready.set()
        capture = threading.Thread(target=receiver.capture,
                                   kwargs={"limit": None, "timeout": 30, "wakeup": False},
                                   daemon=True)
        capture.start()
        assert ready.wait(10), "event receiver did not start"
        bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                              queue="fleet.dispatch")
        wait_result(bare_client.AsyncResult(payload["id"]), 30)
        wait_until(lambda: any(e.get("taskId") == payload["id"] for e in received),
                   "the cost.tracked Celery event arrived")
        receiver.should_stop = True
        capture.join(5)
    event = next(e for e in received if e["taskId"] == payload["id"])
    assert event["type"] == "cost.tracked" and event["uuid"] == payload["id"]
    assert event["hostname"] == f"{worker.name}@{socket.gethostname()}"
    assert event["tokens"]["output"] == 300 and event["cost"] > 0
    assert "budgetStatus" in event
    assert isinstance(event["timestamp"], float) and event["recordedAt"].startswith("20")


def test_non_streaming_task_publishes_only_start_and_complete(worker, bare_client,
                                                               redis_client):
    payload = task_payload(stream=False)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.stream_channel(payload['id']))
    bare_client.send_task("fleet.dispatch", kwargs={"task": payload}, queue="fleet.dispatch")
    events = collect(pubsub)
    assert [e["type"] for e in events] == ["start", "complete"]
    assert [e["seq"] for e in events] == [0, 1]
    assert len(events[1]["data"]["text"].split()) == 300


def test_duplicate_delivery_is_not_rerun(worker, bare_client, redis_client, pg):
    payload = task_payload()
    wait_result(bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                                      queue="fleet.dispatch"), 30)
    first = wait_result(bare_client.AsyncResult(payload["id"]), 30)
    # As if the finished attempt had lost Redis before storing its result.
    meta = f"celery-task-meta-{payload['id']}"
    redis_client.delete(meta)
    # The dispatch delivered again (its ack was lost): it reserves the budget anew and sends
    # the execute message again.
    wait_result(bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                                      queue="fleet.dispatch"), 30)
    wait_until(lambda: f"task {payload['id']} already finished" in worker.log(),
               "the duplicate is seen", timeout=30)
    # The result comes back from the stream, the same as the first attempt's (a RETRY may be
    # stored first: the duplicate met the first attempt's lease before its release landed).
    def stored() -> Any:
        raw = redis_client.get(meta)
        return json.loads(raw) if raw else {}

    wait_until(lambda: stored().get("status") == "SUCCESS", "the result is stored again",
               timeout=10)
    assert stored()["result"] == first
    count = pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = %s",
                       (payload["id"],)).fetchone()[0]
    assert count == 1
    log = redis_client.xrange(keys.stream_log(payload['id']))
    assert sum(json.loads(f[b"e"])["type"] == "complete" for _, f in log) == 1
    assert redis_client.hget(keys.BUDGET_RESERVATIONS, payload["id"]) is None  # none left behind


BAD_INPUTS = [
    ("{not json", "TASK_001", "malformed JSON"),
    ({"type": "write-poetry", "description": "x"}, "TASK_001", "field type"),
    ({"type": "test-generation"}, "TASK_001", "field description"),
    ({"type": "test-generation", "description": "x", "priority": "high"}, "TASK_001",
     "field priority"),
    ({"type": "test-generation", "description": "x" * (1 << 20)}, "TASK_002", "limit is"),
    ({"type": "test-generation", "description": "x", "preferred_model": "gpt-9"},
     "ROUTER_004", "gpt-9"),
    (["a", "list"], "TASK_001", "JSON object"),
]


@pytest.mark.parametrize(("payload", "code", "mentions"), BAD_INPUTS)
def test_bad_input_is_rejected_and_nothing_enqueued(worker, bare_client, redis_client,
                                                    payload, code, mentions):
    before = {q: redis_client.llen(q) for q in MODEL_QUEUES}
    result = bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                                   queue="fleet.dispatch")
    wait_result(result, 30, propagate=False)
    assert result.state == "FAILURE"
    message = str(result.result)
    assert code in message and mentions in message
    assert {q: redis_client.llen(q) for q in MODEL_QUEUES} == before
    wait_until(lambda: redis_client.hlen("unacked") == 0, "the rejected message is acked")
    assert worker.alive()
    good = task_payload(stream=False, max_output_tokens=5)
    ok = bare_client.send_task("fleet.dispatch", kwargs={"task": good}, queue="fleet.dispatch")
    assert wait_result(ok, 30)["modelName"]


def test_missing_kwarg_is_rejected(worker, bare_client):
    result = bare_client.send_task("fleet.dispatch", kwargs={"job": {}}, queue="fleet.dispatch")
    wait_result(result, 30, propagate=False)
    assert result.state == "FAILURE" and "TASK_001" in str(result.result)

