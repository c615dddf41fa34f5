"""Beat work against real PostgreSQL: incremental, idempotent aggregation (late rows too),
batched TTL cleanup, once-per-slot execution, reports."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from beat.tasks import aggregate_costs_now, cleanup_now, once_per_slot
from fleet.config import get_config
from fleet.contracts import TokenUsage
from fleet.costs.reports import cost_report, render
from fleet.costs.tracker import CostTracker


def record(task_id: str, model_name: str = "claude-haiku-4", when: datetime | None = None,
           task_type: str = "general", agent: str | None = "agent-1",
           tokens: tuple[int, int] = (1000, 500)) -> Decimal:
    model = get_config().routing.model(model_name)
    assert model is not None
    tracker = CostTracker()
    entry = tracker.entry(task_id=task_id, attempt=1, model=model, task_type=task_type,
                          agent_id=agent, usage=TokenUsage(input_tokens=tokens[0],
                                                           output_tokens=tokens[1]))
    if when is not None:
        entry = entry.model_copy(update={"created_at": when})
    tracker.record([entry])
    return entry.cost_usd


def summaries(pg: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = pg.execute("SELECT day, model, task_type, requests, input_tokens, output_tokens, "
                      "cost_usd FROM daily_cost_summaries").fetchall()
    return {r[:3]: r[3:] for r in rows}


def raw_totals(pg: Any) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    rows = pg.execute(
        "SELECT (created_at AT TIME ZONE 'UTC')::date, model, task_type, count(*), "
        "sum(input_tokens), sum(output_tokens), sum(cost_usd) FROM cost_entries "
        "GROUP BY 1, 2, 3").fetchall()
    return {r[:3]: r[3:] for r in rows}


def test_aggregation_is_incremental_idempotent_and_counts_late_rows(pg) -> None:
    aggregate_costs_now()
    for i in range(5):
        record(f"agg-{i}")
    aggregate_costs_now()
    assert summaries(pg) == raw_totals(pg)
    before = summaries(pg)
    aggregate_costs_now()  # nothing new: nothing changes
    assert summaries(pg) == before
    late = datetime.now(UTC) - timedelta(days=3)  # a row for a past day, written now
    record("agg-late", when=late)
    aggregate_costs_now()
    assert summaries(pg) == raw_totals(pg)
    assert (late.date(), "claude-haiku-4", "general") in summaries(pg)


def test_rows_of_a_transaction_still_open_are_not_skipped(pg) -> None:
    """A slow insert that commits after an aggregation run is counted by the next one."""
    import psycopg

    from tests.conftest import DATABASE_URL

    aggregate_costs_now()
    slow = psycopg.connect(DATABASE_URL)
    slow.execute("INSERT INTO cost_entries (task_id, attempt, model, provider, task_type, "
                 "input_tokens, output_tokens, cost_usd) VALUES ('slow-1', 1, 'claude-haiku-4',"
                 " 'anthropic', 'general', 10, 10, 0.5)")
    record("fast-1")  # commits while the slow transaction is still open
    aggregate_costs_now()
    slow.commit()
    slow.close()
    aggregate_costs_now()
    assert summaries(pg) == raw_totals(pg)


def test_cleanup_deletes_expired_rows_in_batches(pg) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    for i in range(7):
        record(f"old-{i}", when=old)
    record("recent-1")
    pg.execute("INSERT INTO routing_selections (task_id, model, task_type, complexity, reason, "
               "selection, created_at) VALUES ('old-sel', 'm', 'general', 0.1, 'r', '{}', "
               "now() - interval '8 days')")
    deleted = cleanup_now(batch=3)
    assert deleted["cost_entries"] == 7 and deleted["routing_selections"] == 1
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id LIKE 'old-%'"
                      ).fetchone()[0] == 0
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = 'recent-1'"
                      ).fetchone()[0] == 1


def test_beat_work_runs_once_per_slot_across_processes() -> None:
    calls: list[int] = []

    @once_per_slot(3600)
    def job_for_this_test() -> int:
        calls.append(1)
        return len(calls)

    assert job_for_this_test() == 1
    assert job_for_this_test() is None  # a second beat's message in the same slot
    assert calls == [1]


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_cost_report_formats_and_savings(fmt: str) -> None:
    before = cost_report(get_config(), "day", "model")
    run = uuid.uuid4().hex[:6]
    haiku = record(f"rep-{run}-1", "claude-haiku-4", task_type=f"gate-{run}", agent=f"a-{run}")
    opus = record(f"rep-{run}-2", "claude-opus-4", task_type=f"sec-{run}", agent=f"b-{run}")
    after = cost_report(get_config(), "day", "model")
    assert after["total_cost_usd"] - before["total_cost_usd"] == haiku + opus
    # The same tokens on the default model (sonnet, 3 / 15 per million): 2 x 0.0105.
    assert after["single_model_cost_usd"] - before["single_model_cost_usd"] == Decimal("0.021")
    assert after["savings_usd"] == after["single_model_cost_usd"] - after["total_cost_usd"]
    text = render(cost_report(get_config(), "week", "task-type"), fmt)  # type: ignore[arg-type]
    if fmt == "json":
        groups = {g["task-type"]: g for g in json.loads(text)["groups"]}
        assert Decimal(groups[f"sec-{run}"]["cost_usd"]) == opus
    elif fmt == "csv":
        assert text.splitlines()[0].startswith("task-type,requests")
        assert any(line.startswith(f"gate-{run},1,1000,500") for line in text.splitlines())
    else:
        assert "saved $" in text and f"sec-{run}" in text
    by_agent = {g["agent"] for g in cost_report(get_config(), "month", "agent")["groups"]}
    assert {f"a-{run}", f"b-{run}"} <= by_agent
