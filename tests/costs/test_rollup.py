"""The daily roll-up and TTL cleanup against real PostgreSQL: incremental, idempotent
aggregation (late rows and open transactions too), batched deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fleet.contracts import TokenUsage
from fleet.costs.rollup import aggregate_costs, cleanup
from fleet.costs.tracker import cost_entry
from fleet.services import get_services


def record(task_id: str, model_name: str = "claude-haiku-4", when: datetime | None = None,
           task_type: str = "general", agent: str | None = "agent-1",
           tokens: tuple[int, int] = (1000, 500)) -> Decimal:
    model = get_services().config.routing.model(model_name)
    assert model is not None
    entry = cost_entry(task_id=task_id, attempt=1, model=model, task_type=task_type,
                       agent_id=agent, usage=TokenUsage(input_tokens=tokens[0],
                                                        output_tokens=tokens[1]))
    if when is not None:
        entry = entry.model_copy(update={"created_at": when})
    get_services().costs.record([entry])
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


def test_aggregation_is_incremental_idempotent_and_counts_late_rows(pg, fleet) -> None:
    aggregate_costs(fleet.db)
    for i in range(5):
        record(f"agg-{i}")
    aggregate_costs(fleet.db)
    assert summaries(pg) == raw_totals(pg)
    before = summaries(pg)
    aggregate_costs(fleet.db)  # nothing new: nothing changes
    assert summaries(pg) == before
    late = datetime.now(UTC) - timedelta(days=3)  # a row for a past day, written now
    record("agg-late", when=late)
    aggregate_costs(fleet.db)
    assert summaries(pg) == raw_totals(pg)
    assert (late.date(), "claude-haiku-4", "general") in summaries(pg)


def test_rows_of_a_transaction_still_open_are_not_skipped(pg, fleet, services) -> None:
    """A slow insert that commits after an aggregation run is counted by the next one."""
    import psycopg

    aggregate_costs(fleet.db)
    slow = psycopg.connect(services.database_url)
    slow.execute("INSERT INTO cost_entries (task_id, attempt, model, provider, task_type, "
                 "input_tokens, output_tokens, cost_usd) VALUES ('slow-1', 1, 'claude-haiku-4',"
                 " 'anthropic', 'general', 10, 10, 0.5)")
    record("fast-1")  # commits while the slow transaction is still open
    aggregate_costs(fleet.db)
    slow.commit()
    slow.close()
    aggregate_costs(fleet.db)
    assert summaries(pg) == raw_totals(pg)


def test_cleanup_deletes_expired_rows_in_batches(pg, fleet) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    for i in range(7):
        record(f"old-{i}", when=old)
    record("recent-1")
    pg.execute("INSERT INTO routing_selections (task_id, model, task_type, complexity, reason, "
               "selection, created_at) VALUES ('old-sel', 'm', 'general', 0.1, 'r', '{}', "
               "now() - interval '8 days')")
    pg.execute("INSERT INTO routing_outcomes (task_id, try_no, model, task_type, valid, "
               "created_at) VALUES ('old-sel', 1, 'm', 'general', true, "
               "now() - interval '8 days'), ('recent-1', 1, 'm', 'general', true, now())")
    deleted = cleanup(fleet.db, fleet.config.routing.cost_tracking, batch=3)
    assert deleted["cost_entries"] == 7 and deleted["routing_selections"] == 1
    assert deleted["routing_outcomes"] == 1
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id LIKE 'old-%'"
                      ).fetchone()[0] == 0
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = 'recent-1'"
                      ).fetchone()[0] == 1
