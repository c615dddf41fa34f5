"""Budget ledgers: the rules every ledger keeps (run on the Redis ledger and the in-memory
stub alike), and what only the Redis one does (expiry, races, rebuild from PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fleet.backends import keys
from fleet.config import AlertThresholds, BudgetLimits, CostTracking
from fleet.costs.budget import BudgetLedger, Ledger, ledger_key, period_end, period_start
from fleet.costs.budget.stub import StubLedger

DAY = date(2031, 3, 18)  # a Tuesday, far from any real spend


def settings(daily: str | None = "1.00", monthly: str | None = None,
             weekly: str | None = None) -> CostTracking:
    return CostTracking(
        enabled=True,
        budget_limits=BudgetLimits(daily=Decimal(daily) if daily else None,
                                   weekly=Decimal(weekly) if weekly else None,
                                   monthly=Decimal(monthly) if monthly else None),
        alert_thresholds=AlertThresholds(daily_percent=80, weekly_percent=70,
                                         monthly_percent=90))


@pytest.fixture
def redis_ledger(fleet: Any, redis_client: Any) -> Iterator[Callable[..., BudgetLedger]]:
    """Builds Redis ledgers on this run's Redis, its budget keys wiped before and after."""
    def wipe() -> None:
        for key in redis_client.scan_iter("{fleet:budget}*"):
            redis_client.delete(key)

    def build(daily: str | None = "1.00", monthly: str | None = None, ttl: float = 60,
              weekly: str | None = None) -> BudgetLedger:
        return BudgetLedger(settings(daily, monthly, weekly), fleet.redis, fleet.scripts,
                            fleet.db, reservation_ttl_s=ttl)

    wipe()
    yield build
    wipe()


@pytest.fixture(params=["redis", "stub"])
def any_ledger(request: pytest.FixtureRequest) -> Callable[..., Ledger]:
    """The Redis ledger, then the in-memory stub: the stub must keep the same rules."""
    if request.param == "stub":
        return lambda daily="1.00", monthly=None, weekly=None: StubLedger(
            settings(daily, monthly, weekly))
    return request.getfixturevalue("redis_ledger")  # type: ignore[no-any-return]


def test_periods() -> None:
    assert period_start("weekly", DAY) == date(2031, 3, 17)
    assert period_end("monthly", DAY) == date(2031, 4, 1)
    assert period_end("monthly", date(2031, 12, 31)) == date(2032, 1, 1)
    assert ledger_key("monthly", DAY) == "{fleet:budget}:monthly:2031-03-01"


def test_reserve_until_the_limit_then_refuse(any_ledger) -> None:
    b = any_ledger()
    assert b.reserve("a", Decimal("0.60"), DAY)[0]
    ok, period, used = b.reserve("b", Decimal("0.50"), DAY)
    assert (ok, period, used) == (False, "daily", Decimal("0.6"))
    assert b.reserve("a", Decimal("0.60"), DAY)[0]  # a redelivered dispatch: no double count
    assert b.used("daily", DAY) == (Decimal(0), Decimal("0.6"))


def test_settle_releases_the_reservation_and_adds_the_actual_cost(any_ledger) -> None:
    b = any_ledger()
    b.reserve("a", Decimal("0.60"), DAY)
    b.settle("a", {1: Decimal("0.25")}, DAY)
    assert b.used("daily", DAY) == (Decimal("0.25"), Decimal(0))
    assert b.reserve("b", Decimal("0.70"), DAY)[0]


def test_each_attempt_is_counted_once(any_ledger) -> None:
    # A settle repeated (its reply lost as Redis shut down, then retried) or a retry settling
    # an earlier attempt again must not add the same spend twice.
    b = any_ledger()
    b.reserve("a", Decimal("0.60"), DAY)
    b.settle("a", {1: Decimal("0.25")}, DAY)
    b.settle("a", {1: Decimal("0.25")}, DAY)
    b.settle("a", {1: Decimal("0.25"), 2: Decimal("0.10")}, DAY)
    assert b.used("daily", DAY) == (Decimal("0.35"), Decimal(0))
    b.settle("b", {1: Decimal("0.05")}, DAY)  # attempts are numbered per task
    assert b.used("daily", DAY)[0] == Decimal("0.40")


def test_reservations_of_dead_tasks_expire(redis_ledger) -> None:
    b = redis_ledger(ttl=0.2)
    b.reserve("dies", Decimal("0.90"), DAY)
    assert not b.reserve("waits", Decimal("0.50"), DAY)[0]
    time.sleep(0.3)
    assert b.reserve("waits", Decimal("0.50"), DAY)[0]  # the dead one was released
    assert b.used("daily", DAY)[1] == Decimal("0.5")


def test_a_race_overspends_by_at_most_one_reservation(redis_ledger) -> None:
    b = redis_ledger(daily="1.00")
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


def test_alerts_fire_once_per_period_and_threshold(any_ledger) -> None:
    b = any_ledger(daily="1.00", monthly="10.00")
    assert b.settle("a", {1: Decimal("0.50")}, DAY)[0] == []
    first = b.settle("b", {1: Decimal("0.35")}, DAY)[0]  # 85 % of the day
    assert [(a.period, a.threshold) for a in first] == [("daily", 80.0)]
    assert b.settle("c", {1: Decimal("0.05")}, DAY)[0] == []  # still above 80 %: no repeat
    over = b.settle("d", {1: Decimal("0.20")}, DAY)[0]
    assert [(a.period, a.threshold) for a in over] == [("daily", 100.0)]
    next_day = b.settle("e", {1: Decimal("0.90")}, date(2031, 3, 19))[0]
    assert [(a.period, a.threshold) for a in next_day] == [("daily", 80.0)]


def test_weekly_alerts_fire_at_their_own_threshold_once_per_week(any_ledger) -> None:
    b = any_ledger(daily=None, weekly="10.00")
    assert b.settle("a", {1: Decimal("6.00")}, DAY)[0] == []
    crossed = b.settle("b", {1: Decimal("1.50")}, DAY)[0]  # 75 % of the week (threshold 70)
    assert [(a.period, a.threshold, a.used) for a in crossed] == [
        ("weekly", 70.0, Decimal("7.50"))]
    assert b.settle("c", {1: Decimal("0.50")}, date(2031, 3, 20))[0] == []  # same ISO week
    full = b.settle("d", {1: Decimal("2.00")}, date(2031, 3, 22))[0]  # Sunday: 100 %
    assert [(a.period, a.threshold) for a in full] == [("weekly", 100.0)]
    next_week = b.settle("e", {1: Decimal("8.00")}, date(2031, 3, 24))[0]  # Monday
    assert [(a.period, a.threshold) for a in next_week] == [("weekly", 70.0)]


def test_the_weekly_threshold_is_configurable_from_the_environment() -> None:
    from fleet.config import load_config

    config = load_config(environ={"BUDGET_ALERT_WEEKLY_PERCENT": "60"})
    assert config.routing.cost_tracking.alert_thresholds.weekly_percent == 60


def test_status_has_the_seeds_shape(any_ledger) -> None:
    b = any_ledger(daily="2.00", monthly="20.00")
    b.settle("a", {1: Decimal("0.50")}, DAY)
    status = b.status(DAY)
    assert status["daily"] == {"used": 0.5, "reserved": 0.0, "limit": 2.0, "percentUsed": 25.0}
    assert status["monthly"]["percentUsed"] == 2.5


def test_rebuild_restores_spend_from_postgres(redis_client, redis_ledger, fleet, pg) -> None:
    from fleet.config import load_config
    from fleet.contracts import TokenUsage
    from fleet.costs.tracker import cost_entry
    from tests.config.test_config import SHIPPED

    model = load_config(SHIPPED, environ={}).routing.model("claude-opus-4")
    assert model is not None
    entry = cost_entry(task_id="rebuild-1", attempt=1, model=model, task_type="general",
                       agent_id=None, usage=TokenUsage(input_tokens=1000, output_tokens=1000))
    fleet.costs.record([entry])
    pg.execute("UPDATE cost_entries SET created_at = '2031-03-18 12:00+00' "
               "WHERE task_id = 'rebuild-1'")
    b = redis_ledger()
    redis_client.delete(ledger_key("daily", DAY))  # Redis lost everything
    totals = b.rebuild(DAY)
    assert totals["daily"] == entry.cost_usd == Decimal("0.03")
    assert b.used("daily", DAY)[0] == Decimal("0.03")
    pg.execute("DELETE FROM cost_entries WHERE task_id = 'rebuild-1'")


def test_settling_releases_the_reservation_in_redis(redis_ledger, redis_client) -> None:
    b = redis_ledger()
    b.reserve("a", Decimal("0.60"), DAY)
    assert redis_client.hlen(keys.BUDGET_RESERVATIONS) == 1
    b.settle("a", {1: Decimal("0.25")}, DAY)
    assert redis_client.hlen(keys.BUDGET_RESERVATIONS) == 0
