"""Settling a task's spend in ``fleet.execute``, against real Redis and PostgreSQL but without
a worker: an attempt settles what earlier attempts recorded and could not settle, once."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fleet.contracts import TokenUsage
from fleet.costs.budget import get_ledger
from fleet.costs.tracker import CostTracker
from fleet.streaming.relay import get_relay
from tests.costs.test_pricing import MODELS
from workers.execute import owed_by


def test_a_later_attempt_settles_what_earlier_attempts_left_once(pg, redis_client) -> None:
    ledger = get_ledger()
    task_id = f"owed-{uuid.uuid4().hex[:8]}"
    tracker = CostTracker()
    entries = [tracker.entry(task_id=task_id, attempt=attempt, model=MODELS["claude-haiku-4"],
                             task_type="general", agent_id=None,
                             usage=TokenUsage(input_tokens=1000 * attempt, output_tokens=100))
               for attempt in (1, 2)]
    costs = [e.cost_usd for e in entries]
    before = ledger.used("daily")[0]
    tracker.record(entries[:1])
    ledger.settle(task_id, owed_by(task_id, 1, costs[0]))
    # Attempt 2 recorded its row, then lost Redis before its settle (or its worker died).
    tracker.record(entries[1:])
    assert ledger.used("daily")[0] - before == costs[0]
    # Attempt 3 (the retry) settles its own spend and attempt 2's, and attempt 1's not again,
    # sent with the stream relay as a worker does.
    relay = get_relay(ledger.client)
    settled = ledger.settle_later(task_id, owed_by(task_id, 3, Decimal("0.001")), relay)
    _, status = settled.result(timeout=5)
    used = ledger.used("daily")[0]
    assert used - before == sum(costs) + Decimal("0.001")
    assert status["daily"]["used"] == float(used)
    # A duplicate delivery of the finished task settles nothing more; a repeated settle neither.
    ledger.settle(task_id, owed_by(task_id, 4))
    ledger.settle(task_id, owed_by(task_id, 3, Decimal("0.001")))
    assert ledger.used("daily")[0] - before == sum(costs) + Decimal("0.001")
