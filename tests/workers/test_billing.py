"""The money steps of an attempt: an attempt settles what earlier attempts recorded and could
not settle, once. In memory (stub ledger and cost store), then against real Redis and
PostgreSQL with the settle sent by the stream relay as a worker sends it."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY

from fleet.config import AlertThresholds, BudgetLimits, CostTracking, load_config
from fleet.contracts import CostEntry, QETask, TokenUsage
from fleet.costs.budget.stub import StubLedger
from fleet.costs.stub import StubCostTracker
from fleet.costs.tracker import cost_entry
from fleet.services import Services
from tests.config.test_config import SHIPPED
from tests.costs.test_pricing import MODELS
from workers.billing import owed_by, record_costs
from workers.runner import Call

KINDS = ("input", "output", "cache_read", "cache_write")


def tokens(model: str, kind: str) -> float:
    """fleet_tokens_total{model, kind} in this process."""
    return REGISTRY.get_sample_value("fleet_tokens_total",
                                     {"model": model, "kind": kind}) or 0.0


def entries_of(task_id: str) -> list[CostEntry]:
    return [cost_entry(task_id=task_id, attempt=attempt, model=MODELS["claude-haiku-4"],
                       task_type="general", agent_id=None,
                       usage=TokenUsage(input_tokens=1000 * attempt, output_tokens=100))
            for attempt in (1, 2)]


def test_an_attempt_records_its_calls_and_settles_once_in_memory() -> None:
    ledger = StubLedger(CostTracking(enabled=True, budget_limits=BudgetLimits(
        daily=Decimal("1.00")), alert_thresholds=AlertThresholds(daily_percent=1)))
    costs = StubCostTracker()
    services = Services(load_config(SHIPPED, environ={}), ledger=ledger, costs=costs)
    task = QETask(id="bill-1", type="general", description="x")
    calls = [Call(MODELS["claude-haiku-4"], TokenUsage(input_tokens=9000, output_tokens=900)),
             Call(MODELS["claude-opus-4"], TokenUsage(input_tokens=100, output_tokens=10,
                                                      cached_tokens=4000,
                                                      cache_write_tokens=300))]
    before = {kind: tokens("claude-opus-4", kind) for kind in KINDS}
    ledger.reserve(task.id, Decimal("0.50"))
    recorded = record_costs(services, task, 2, calls)
    assert [e.segment for e in recorded.entries] == [0, 1]
    assert [e.model for e in recorded.entries] == ["claude-haiku-4", "claude-opus-4"]
    alerts, status = recorded.settled.result(timeout=1)
    assert ledger.used("daily") == (sum(recorded.costs, Decimal(0)), Decimal(0))
    assert status["daily"]["used"] == float(sum(recorded.costs, Decimal(0)))
    assert [(a.period, a.threshold) for a in alerts] == [("daily", 1.0)]
    counted = {kind: tokens("claude-opus-4", kind) - before[kind] for kind in KINDS}
    assert counted == {"input": 100, "output": 10, "cache_read": 4000, "cache_write": 300}
    # The same attempt recorded again (a retried settle) adds no row and no spend.
    again = record_costs(services, task, 2, calls)
    assert again.settled.result(timeout=1)[0] == []
    assert len(costs.rows) == 2
    assert ledger.used("daily")[0] == sum(recorded.costs, Decimal(0))


def test_a_later_attempt_settles_what_earlier_attempts_left_once(pg: Any, fleet: Any) -> None:
    ledger = fleet.ledger
    task_id = f"owed-{uuid.uuid4().hex[:8]}"
    entries = entries_of(task_id)
    costs = [e.cost_usd for e in entries]
    before = ledger.used("daily")[0]
    fleet.costs.record(entries[:1])
    ledger.settle(task_id, owed_by(fleet, task_id, 1, costs[0]))
    # Attempt 2 recorded its row, then lost Redis before its settle (or its worker died).
    fleet.costs.record(entries[1:])
    assert ledger.used("daily")[0] - before == costs[0]
    # Attempt 3 (the retry) settles its own spend and attempt 2's, and attempt 1's not again,
    # sent with the stream relay as a worker does.
    settled = ledger.settle_later(task_id, owed_by(fleet, task_id, 3, Decimal("0.001")),
                                  fleet.relay.send_later)
    _, status = settled.result(timeout=5)
    used = ledger.used("daily")[0]
    assert used - before == sum(costs) + Decimal("0.001")
    assert status["daily"]["used"] == float(used)
    # A duplicate delivery of the finished task settles nothing more; a repeated settle neither.
    ledger.settle(task_id, owed_by(fleet, task_id, 4))
    ledger.settle(task_id, owed_by(fleet, task_id, 3, Decimal("0.001")))
    assert ledger.used("daily")[0] - before == sum(costs) + Decimal("0.001")
