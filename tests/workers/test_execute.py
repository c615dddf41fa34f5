"""``fleet.execute`` through real worker processes: a cheap model's answer that fails its
check escalates, and the task completes on a stronger model (the only workers running in this
module carry the simulator's fault mode for claude-haiku-4); a gate the rules decide costs
nothing; generated tests asked to be run come back with their run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fleet.backends import keys
from tests.fixtures import MODEL_QUEUES
from tests.harness import wait_result
from tests.test_end_to_end import collect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cascade_worker(services) -> Iterator[None]:
    from tests.fixtures import WorkerProcess

    worker = WorkerProcess(["fleet.dispatch", *MODEL_QUEUES], "cascade",
                           {"FLEET_SIM_INVALID_MODELS": "claude-haiku-4"})
    try:
        yield
    finally:
        worker.stop()


def run_task(bare_client, redis_client, payload: dict[str, Any]
             ) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The task's selection, its stream's events and its result."""
    pubsub = redis_client.pubsub()
    pubsub.subscribe(keys.stream_channel(payload['id']))
    selection = wait_result(bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                                                  queue="fleet.dispatch"), 30)
    events = collect(pubsub)
    return selection, events, wait_result(bare_client.AsyncResult(payload["id"]), 60)


def test_an_invalid_cheap_answer_escalates_and_completes_on_a_stronger_model(
        cascade_worker, bare_client, redis_client, pg) -> None:
    """The cheap model answering without a result: retried once with the validator's
    message, then escalated; the stream restarts, every call has its cost row."""
    payload = {"id": f"gate-{uuid.uuid4().hex}", "type": "quality-gate",
               "description": "All 120 tests pass. Gate the release.",
               "preferred_model": "claude-haiku-4", "max_output_tokens": 200}
    _, events, result = run_task(bare_client, redis_client, payload)
    assert result["valid"] is True and result["result"]["decision"] == "PASS"
    assert result["model"] == "claude-sonnet-4.5"
    restarts = [e["data"] for e in events if e["type"] == "fallback"]
    assert [(r["to"], r["reason"], r["restart"]) for r in restarts] == [
        ("claude-haiku-4", "validation_failed", True),
        ("claude-sonnet-4.5", "validation_failed", True)]
    assert events[-1]["type"] == "complete" and events[-1]["data"]["valid"] is True
    rows = pg.execute("SELECT segment, model FROM cost_entries WHERE task_id = %s "
                      "ORDER BY segment", (payload["id"],)).fetchall()
    assert rows == [(0, "claude-haiku-4"), (1, "claude-haiku-4"), (2, "claude-sonnet-4.5")]
    outcomes = pg.execute("SELECT try_no, model, valid, escalated_to FROM routing_outcomes "
                          "WHERE task_id = %s ORDER BY try_no", (payload["id"],)).fetchall()
    assert outcomes == [(1, "claude-haiku-4", False, "claude-haiku-4"),
                        (2, "claude-haiku-4", False, "claude-sonnet-4.5"),
                        (3, "claude-sonnet-4.5", True, None)]


def test_a_gate_the_rules_decide_completes_without_a_model_or_a_cost(
        cascade_worker, bare_client, redis_client, pg) -> None:
    payload = {"id": f"rules-{uuid.uuid4().hex}", "type": "quality-gate",
               "description": "Gate the release.",
               "context": {"metrics": {"coverage": 71.5, "failed_tests": 0},
                           "policy": {"coverage": {"min": 80}, "failed_tests": {"max": 0}}}}
    selection, events, result = run_task(bare_client, redis_client, payload)
    assert "decided by the task's rules" in selection["reason"]
    assert [e["type"] for e in events] == ["start", "complete"]
    assert events[-1]["data"]["result"]["decision"] == "FAIL"
    assert result["result"]["blocking"] == [
        {"rule": "coverage >= 80", "actual": 71.5, "threshold": 80.0}]
    assert result["tried"] == ["rules"] and result["calls"] == []
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = %s",
                      (payload["id"],)).fetchone()[0] == 0
    assert redis_client.hget(keys.BUDGET_RESERVATIONS, payload["id"]) is None


def test_generated_tests_asked_to_be_run_come_back_with_their_run(
        cascade_worker, bare_client, redis_client) -> None:
    code = ("def total(prices):\n    return sum(prices)\n\n\n"
            "def discount(price, rate):\n    if rate > 1:\n        raise ValueError(rate)\n"
            "    return price * (1 - rate)\n")
    payload = {"id": f"verify-{uuid.uuid4().hex}", "type": "test-generation",
               "description": "pytest tests for these.", "code": code, "language": "python",
               "context": {"verify": "run"}, "preferred_model": "claude-sonnet-4.5"}
    _, events, result = run_task(bare_client, redis_client, payload)
    verification = result["verification"]
    assert result["valid"] is True and events[-1]["data"]["verification"] == verification
    assert (verification["status"], verification["passed"], verification["errors"]) == (
        "ran", 2, 0)
    assert verification["coverage_percent"] == 33.3  # 2 of 6 lines: the defs, not the bodies
