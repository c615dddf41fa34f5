"""The budget race through real processes: 200 tasks sent at once to two dispatcher processes,
against a small daily limit, executed by a real worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fleet.backends import keys
from fleet.costs.budget import ledger_key
from fleet.streaming.events import EVENTS_CHANNEL
from fleet.streaming.subscribe import read_log
from tests.conftest import RUN_ID
from tests.harness import WorkerProcess as _Worker
from tests.harness import wait_result

pytestmark = pytest.mark.integration

ROOM = Decimal("0.02")  # what the race may spend today, on top of earlier tests' spend


@pytest.fixture
def budget_fleet(redis_client: Any, pg: Any) -> Iterator[tuple[Decimal, list[_Worker]]]:
    for key in redis_client.scan_iter("{fleet:budget}*"):
        redis_client.delete(key)
    spent_before = Decimal(str(pg.execute(
        "SELECT coalesce(sum(cost_usd), 0) FROM cost_entries WHERE created_at >= "
        "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'").fetchone()[0]))
    env = {"BUDGET_LIMIT_DAILY": str(spent_before + ROOM), "BUDGET_LIMIT_MONTHLY": "",
           "COST_TRACKING_ENABLED": "true", "FLEET_SIM_TTFT_MS": "0",
           "FLEET_SIM_TOKENS_PER_SECOND": "0"}
    workers = [_Worker(["fleet.dispatch"], f"race-dispatch-{i}", env, concurrency=16,
                       run_id=RUN_ID) for i in range(2)]
    workers.append(_Worker(["model.claude-haiku-4"], "race-exec", env, concurrency=32,
                           run_id=RUN_ID))
    yield spent_before, workers
    for w in workers:
        w.stop()
    for key in redis_client.scan_iter("{fleet:budget}*"):
        redis_client.delete(key)


def test_two_hundred_racing_tasks_overspend_by_at_most_one_reservation(
        budget_fleet, bare_client, redis_client, pg) -> None:
    spent_before, _ = budget_fleet
    events = redis_client.pubsub(ignore_subscribe_messages=True)
    events.subscribe(EVENTS_CHANNEL)
    ids = [f"race-{i}-{RUN_ID}" for i in range(200)]
    sent = [bare_client.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
        "id": task_id, "type": "quality-gate", "description": "Gate this build: PASS or FAIL?",
        "max_output_tokens": 100, "preferred_model": "claude-haiku-4"}}) for task_id in ids]
    accepted, refused = [], []
    for task_id, result in zip(ids, sent, strict=True):
        wait_result(result, 60, propagate=False)
        if result.state == "SUCCESS":
            accepted.append(task_id)
        else:
            assert "ROUTER_002" in str(result.result), result.result
            refused.append(task_id)
    for task_id in accepted:
        assert wait_result(bare_client.AsyncResult(task_id), 60)["status"] == "complete"
    assert accepted and refused
    for task_id in refused:  # whoever follows a refused task's stream learns why
        assert read_log(redis_client, task_id)[-1]["data"]["code"] == "ROUTER_002"
    rows = pg.execute("SELECT count(*), sum(cost_usd), max(cost_usd) FROM cost_entries "
                      "WHERE task_id = ANY(%s)", (ids,)).fetchone()
    count, spent, one_task = rows[0], Decimal(str(rows[1])), Decimal(str(rows[2]))
    assert count == len(accepted)
    # Overspend: at most one task's reservation (its estimate, with the input margin).
    assert spent <= ROOM + one_task * Decimal("1.2")
    assert spent >= ROOM - one_task * 3  # and the budget was actually used, not over-blocked
    assert redis_client.hlen(keys.BUDGET_RESERVATIONS) == 0  # nothing left behind
    # The day's ledger itself (its alert marks are fields beside the spend).
    today = datetime.now(UTC).date()
    ledger_spent = Decimal(redis_client.hget(ledger_key("daily", today), "spent").decode()) / 10**8
    assert ledger_spent == spent_before + spent
    # Announced once each: a cost.tracked per task that ran, with the budget status after its
    # settle, and the 80 % alert of the day (the 100 % one at most once).
    tracked, alerts = _announced(events, expected=len(accepted))
    assert sorted(e["taskId"] for e in tracked) == sorted(accepted)
    assert all(e["budgetStatus"]["daily"]["limit"] == float(spent_before + ROOM)
               for e in tracked)
    daily = sorted(a["threshold"] for a in alerts if a["period"] == "daily")
    assert daily in ([80.0], [80.0, 100.0]), daily


def _announced(events: Any, expected: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """cost.tracked and budget.alert events, read until ``expected`` tasks were tracked (they
    go out with each worker's next stream write, just after the task's result) or 10 s."""
    tracked: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    by_type = {"cost.tracked": tracked, "budget.alert": alerts}
    deadline = time.monotonic() + 10
    # Until all are tracked and then quiet for 0.5 s (a late alert, a doubled event), or 10 s.
    while (message := events.get_message(timeout=0.5)) or (
            len(tracked) < expected and time.monotonic() < deadline):
        if message is not None:
            event = json.loads(message["data"])
            by_type.get(event["type"], []).append(event)
    return tracked, alerts
