"""BudgetLedger against real Redis: atomic reservations, settlement, expiry, alerts, rebuild."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fleet.config import AlertThresholds, BudgetLimits, CostTracking
from fleet.costs.budget import (
    RESERVATIONS,
    BudgetLedger,
    ledger_key,
    period_end,
    period_start,
)

DAY = date(2031, 3, 18)  # a Tuesday, far from any real spend


@pytest.fixture(autouse=True)
def clean_budget(redis_client: Any) -> Iterator[None]:
    def wipe() -> None:
        for key in redis_client.scan_iter("fleet:budget*"):
            redis_client.delete(key)

    wipe()
    yield
    wipe()


def ledger(redis_client: Any, daily: str | None = "1.00", monthly: str | None = None,
           ttl: float = 60) -> BudgetLedger:
    settings = CostTracking(
        enabled=True,
        budget_limits=BudgetLimits(daily=Decimal(daily) if daily else None,
                                   monthly=Decimal(monthly) if monthly else None),
        alert_thresholds=AlertThresholds(daily_percent=80, monthly_percent=90))
    return BudgetLedger(settings, redis_client, reservation_ttl_s=ttl)


def test_periods() -> None:
    assert period_start("weekly", DAY) == date(2031, 3, 17)
    assert period_end("monthly", DAY) == date(2031, 4, 1)
    assert period_end("monthly", date(2031, 12, 31)) == date(2032, 1, 1)
    assert ledger_key("monthly", DAY) == "fleet:budget:monthly:2031-03-01"


def test_reserve_until_the_limit_then_refuse(redis_client) -> None:
    b = ledger(redis_client)
    assert b.reserve("a", Decimal("0.60"), DAY)[0]
    ok, period, used = b.reserve("b", Decimal("0.50"), DAY)
    assert (ok, period, used) == (False, "daily", Decimal("0.6"))
    assert b.reserve("a", Decimal("0.60"), DAY)[0]  # a redelivered dispatch: no double count
    assert b.used("daily", DAY) == (Decimal(0), Decimal("0.6"))


def test_settle_releases_the_reservation_and_adds_the_actual_cost(redis_client) -> None:
    b = ledger(redis_client)
    b.reserve("a", Decimal("0.60"), DAY)
    b.settle("a", {1: Decimal("0.25")}, DAY)
    assert b.used("daily", DAY) == (Decimal("0.25"), Decimal(0))
    assert redis_client.hlen(RESERVATIONS) == 0
    assert b.reserve("b", Decimal("0.70"), DAY)[0]


def test_each_attempt_is_counted_once(redis_client) -> None:
    # A settle repeated (its reply lost as Redis shut down, then retried) or a retry settling
    # an earlier attempt again must not add the same spend twice.
    b = ledger(redis_client)
    b.reserve("a", Decimal("0.60"), DAY)
    b.settle("a", {1: Decimal("0.25")}, DAY)
    b.settle("a", {1: Decimal("0.25")}, DAY)
    b.settle("a", {1: Decimal("0.25"), 2: Decimal("0.10")}, DAY)
    assert b.used("daily", DAY) == (Decimal("0.35"), Decimal(0))
    b.settle("b", {1: Decimal("0.05")}, DAY)  # attempts are numbered per task
    assert b.used("daily", DAY)[0] == Decimal("0.40")


def test_reservations_of_dead_tasks_expire(redis_client) -> None:
    b = ledger(redis_client, ttl=0.2)
    b.reserve("dies", Decimal("0.90"), DAY)
    assert not b.reserve("waits", Decimal("0.50"), DAY)[0]
    time.sleep(0.3)
    assert b.reserve("waits", Decimal("0.50"), DAY)[0]  # the dead one was released
    assert b.used("daily", DAY)[1] == Decimal("0.5")


def test_a_race_overspends_by_at_most_one_reservation(redis_client) -> None:
    b = ledger(redis_client, daily="1.00")
    granted: list[str] = []
    lock = threading.Lock()

    def racer(i: int) -> None:
        if b.reserve(f"r{i}", Decimal("0.03"), DAY)[0]:
            b.settle(f"r{i}", {1: Decimal("0.03")}, DAY)
            with lock:
                granted.append(f"r{i}")

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spent, reserved = b.used("daily", DAY)
    assert len(granted) == 33 and spent == Decimal("0.99") and reserved == 0


def test_alerts_fire_once_per_period_and_threshold(redis_client) -> None:
    b = ledger(redis_client, daily="1.00", monthly="10.00")
    assert b.settle("a", {1: Decimal("0.50")}, DAY)[0] == []
    first = b.settle("b", {1: Decimal("0.35")}, DAY)[0]  # 85 % of the day
    assert [(a.period, a.threshold) for a in first] == [("daily", 80.0)]
    assert b.settle("c", {1: Decimal("0.05")}, DAY)[0] == []  # still above 80 %: no repeat
    over = b.settle("d", {1: Decimal("0.20")}, DAY)[0]
    assert [(a.period, a.threshold) for a in over] == [("daily", 100.0)]
    next_day = b.settle("e", {1: Decimal("0.90")}, date(2031, 3, 19))[0]
    assert [(a.period, a.threshold) for a in next_day] == [("daily", 80.0)]


def test_status_has_the_seeds_shape(redis_client) -> None:
    b = ledger(redis_client, daily="2.00", monthly="20.00")
    b.settle("a", {1: Decimal("0.50")}, DAY)
    status = b.status(DAY)
    assert status["daily"] == {"used": 0.5, "reserved": 0.0, "limit": 2.0, "percentUsed": 25.0}
    assert status["monthly"]["percentUsed"] == 2.5


def test_rebuild_restores_spend_from_postgres(redis_client, pg) -> None:
    from fleet.config import load_config
    from fleet.contracts import TokenUsage
    from fleet.costs.tracker import CostTracker
    from tests.test_config import SHIPPED

    model = load_config(SHIPPED, environ={}).routing.model("claude-opus-4")
    assert model is not None
    tracker = CostTracker()
    entry = tracker.entry(task_id="rebuild-1", attempt=1, model=model, task_type="general",
                          agent_id=None, usage=TokenUsage(input_tokens=1000, output_tokens=1000))
    tracker.record([entry])
    pg.execute("UPDATE cost_entries SET created_at = '2031-03-18 12:00+00' "
               "WHERE task_id = 'rebuild-1'")
    b = ledger(redis_client)
    redis_client.delete(ledger_key("daily", DAY))  # Redis lost everything
    totals = b.rebuild(DAY)
    assert totals["daily"] == entry.cost_usd == Decimal("0.09")
    assert b.used("daily", DAY)[0] == Decimal("0.09")
    pg.execute("DELETE FROM cost_entries WHERE task_id = 'rebuild-1'")


def test_block_refuses_and_downgrade_picks_a_cheaper_model(redis_client, monkeypatch) -> None:
    import fakeredis

    from fleet.config import get_config
    from fleet.contracts import QETask
    from fleet.dispatch import route as dispatch
    from fleet.errors import BudgetExceeded, NoAffordableModel
    from fleet.routing.flags import FeatureFlagManager
    from fleet.routing.registry import ModelRegistry
    from fleet.routing.router import ModelRouter

    config = get_config()
    fake = fakeredis.FakeRedis()
    router = ModelRouter(config, ModelRegistry.from_config(config, fake),
                         flags=FeatureFlagManager(config, fake))
    monkeypatch.setattr(dispatch, "get_router", lambda: router)
    task = QETask(id="budget-opus", type="security-review", description="Audit this.",
                  preferred_model="claude-opus-4", max_output_tokens=1000)
    selection = router.select_model(task)
    assert selection.model_name == "claude-opus-4"
    # Room for a haiku call (~0.004 USD) but not an opus one (~0.075 USD).
    tight = ledger(redis_client, daily="0.01")
    monkeypatch.setattr(dispatch, "get_ledger", lambda: tight)
    with pytest.raises(BudgetExceeded) as refused:
        dispatch.reserve_budget(task, selection)
    assert refused.value.code == "ROUTER_002" and "daily budget" in str(refused.value)

    tight.settings = tight.settings.model_copy(update={"on_limit": "downgrade"})
    downgraded = dispatch.reserve_budget(task, selection)
    assert downgraded.model_name == "claude-haiku-4"
    assert "downgraded from claude-opus-4" in downgraded.reason
    assert redis_client.hexists("fleet:budget:reservations", "budget-opus")

    broke = ledger(redis_client, daily="0.00001")
    broke.settings = broke.settings.model_copy(update={"on_limit": "downgrade"})
    monkeypatch.setattr(dispatch, "get_ledger", lambda: broke)
    with pytest.raises(NoAffordableModel) as none:
        dispatch.reserve_budget(task.model_copy(update={"id": "budget-none"}), selection)
    assert none.value.code == "ROUTER_003"
