"""History that outlives the raw cost rows: budgets and reports of a period longer than the
rows' retention read the days before it from the daily summaries (real PostgreSQL and Redis,
the clock set to the 31st of a month and to 1 January)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from fleet.config import BudgetLimits, CostTracking
from fleet.contracts import TokenUsage
from fleet.costs.budget import BudgetLedger, ledger_key
from fleet.costs.reports import cost_report
from fleet.costs.rollup import aggregate_costs, ttl_days
from fleet.costs.tracker import cost_entry
from tests.costs.test_pricing import MODELS


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.fixture
def history(fleet: Any, pg: Any) -> Iterator[Any]:
    """Writes one priced row per day, rolls them up, then deletes the raw rows before a day
    (what cleanup does past the retention); returns each day's cost."""
    run = uuid.uuid4().hex[:8]

    def write(first: date, last: date, deleted_before: date) -> dict[date, Decimal]:
        spent = {}
        for n, day in enumerate(days(first, last)):
            entry = cost_entry(task_id=f"hist-{run}-{day}", attempt=1,
                               model=MODELS["claude-haiku-4"], task_type="general",
                               agent_id="hist", usage=TokenUsage(input_tokens=1000 + n,
                                                                 output_tokens=100))
            entry = entry.model_copy(update={"created_at": datetime.combine(
                day, datetime.min.time(), UTC) + timedelta(hours=12)})
            fleet.costs.record([entry])
            spent[day] = entry.cost_usd
        aggregate_costs(fleet.db)
        pg.execute("DELETE FROM cost_entries WHERE task_id LIKE %s AND created_at < %s",
                   (f"hist-{run}-%", datetime.combine(deleted_before, datetime.min.time(), UTC)))
        return spent

    yield write
    pg.execute("DELETE FROM cost_entries WHERE task_id LIKE %s", (f"hist-{run}-%",))
    pg.execute("DELETE FROM daily_cost_summaries WHERE day >= '2031-01-01'")


def ledger(fleet: Any, retention: int = 30) -> BudgetLedger:
    tracking = CostTracking(enabled=True, raw_retention_days=retention,
                            budget_limits=BudgetLimits(daily=Decimal(1000), weekly=Decimal(1000),
                                                       monthly=Decimal(1000)))
    return BudgetLedger(tracking, fleet.redis, fleet.scripts, fleet.db)


def test_on_the_31st_the_month_still_has_its_first_day(fleet: Any, history: Any) -> None:
    today = date(2031, 3, 31)
    # 36 days of rows; those of 1 March are gone (30 days of raw rows are kept).
    spent = history(date(2031, 2, 24), today, deleted_before=date(2031, 3, 2))
    march = sum((spent[d] for d in days(date(2031, 3, 1), today)), Decimal(0))
    b = ledger(fleet)
    totals = b.rebuild(today)
    assert totals["monthly"] == march
    assert b.used("monthly", today)[0] == march
    assert totals["weekly"] == sum((spent[d] for d in days(date(2031, 3, 31), today)),
                                   Decimal(0))  # a Monday
    report = cost_report(fleet.db, fleet.config, "month", "model", today=today)
    assert report["total_cost_usd"] == march
    assert sum(g["requests"] for g in report["groups"]) == 31  # every day of the month
    fleet.redis.delete(*(ledger_key(p, today) for p in ("daily", "weekly", "monthly")))


def test_on_the_first_of_january_the_week_reaches_back_into_last_year(
        fleet: Any, history: Any) -> None:
    today = date(2032, 1, 1)  # a Thursday: its ISO week began on Monday 29 December
    spent = history(date(2031, 12, 20), today, deleted_before=date(2031, 12, 31))
    b = ledger(fleet, retention=2)  # raw rows for 31 December and 1 January only
    totals = b.rebuild(today)
    assert totals["daily"] == totals["monthly"] == spent[today]
    assert totals["weekly"] == sum((spent[d] for d in days(date(2031, 12, 29), today)),
                                   Decimal(0))
    by_agent = cost_report(fleet.db, fleet.config.model_copy(update={"routing": fleet.config
                           .routing.model_copy(update={"cost_tracking": b.settings})}),
                           "week", "agent", today=today)
    assert {g["agent"]: g["requests"] for g in by_agent["groups"]} == {
        "hist": 2, "(summarised days)": 2}
    fleet.redis.delete(*(ledger_key(p, today) for p in ("daily", "weekly", "monthly")))


def test_daily_summaries_outlive_the_rows_for_a_year() -> None:
    ttl = ttl_days(CostTracking())
    assert ttl["cost_entries"] == 30 and ttl["daily_cost_summaries"] >= 366
