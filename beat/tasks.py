"""Periodic tasks: cost aggregation, spool draining, budget rebuilds and TTL cleanup.

Every task runs at most once per schedule slot fleet-wide, even when two beat processes were
started by mistake: the body runs under a Redis lock named after the task and its slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from fleet import db
from fleet.app import app
from fleet.budget import get_ledger
from fleet.costs import CostTracker
from fleet.redis_client import get_redis
from fleet.selections import drain_selections

log = logging.getLogger("fleet.beat")

# The seed's §5.1 partitions kept in PostgreSQL, with their TTLs.
TTL_DAYS = {
    "cost_entries": 30,          # routing/costs
    "daily_cost_summaries": 30,  # routing/costs/daily
    "routing_selections": 7,     # routing/selections and performance/router latencies
}
DELETE_BATCH = 5000

T = TypeVar("T")


def once_per_slot(seconds: int) -> Callable[[Callable[..., T]], Callable[..., T | None]]:
    """Run the body only if no other process ran it in this ``seconds``-long slot."""

    def decorate(body: Callable[..., T]) -> Callable[..., T | None]:
        @wraps(body)
        def run(*args: Any, **kwargs: Any) -> T | None:
            slot = int(time.time() // seconds)
            key = f"fleet:beat:lock:{body.__name__}:{slot}"
            if not get_redis().set(key, "1", nx=True, ex=seconds * 2):
                log.info("%s already ran in this slot; skipped", body.__name__)
                return None
            return body(*args, **kwargs)

        return run

    return decorate


# Roll up rows written by transactions that have all finished since the last run. Additive,
# and the watermark moves in the same transaction: a rerun changes nothing, and a row that
# commits late is picked up by the next run, whatever day it belongs to.
_AGGREGATE = """
WITH bounds AS (
    SELECT watermark AS low, pg_snapshot_xmin(pg_current_snapshot()) AS high
    FROM aggregation_state WHERE name = 'daily_cost_summaries' FOR UPDATE
), fresh AS (
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, model, task_type, count(*) AS requests,
        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(cached_tokens) AS cached_tokens, sum(cache_write_tokens) AS cache_write_tokens,
        sum(cost_usd) AS cost_usd
    FROM cost_entries, bounds
    WHERE txid >= bounds.low AND txid < bounds.high
    GROUP BY 1, 2, 3
), upsert AS (
    INSERT INTO daily_cost_summaries AS s (day, model, task_type, requests, input_tokens,
        output_tokens, cached_tokens, cache_write_tokens, cost_usd, updated_at)
    SELECT day, model, task_type, requests, input_tokens, output_tokens, cached_tokens,
        cache_write_tokens, cost_usd, now() FROM fresh
    ON CONFLICT (day, model, task_type) DO UPDATE SET
        requests = s.requests + EXCLUDED.requests,
        input_tokens = s.input_tokens + EXCLUDED.input_tokens,
        output_tokens = s.output_tokens + EXCLUDED.output_tokens,
        cached_tokens = s.cached_tokens + EXCLUDED.cached_tokens,
        cache_write_tokens = s.cache_write_tokens + EXCLUDED.cache_write_tokens,
        cost_usd = s.cost_usd + EXCLUDED.cost_usd, updated_at = now()
    RETURNING 1
)
UPDATE aggregation_state SET watermark = bounds.high, updated_at = now()
FROM bounds WHERE name = 'daily_cost_summaries'
RETURNING (SELECT count(*) FROM upsert)
"""


def aggregate_costs_now() -> int:
    """Add cost rows written since the last run to the daily summaries; returns groups
    touched."""
    with db.connection() as conn:
        row = conn.execute(_AGGREGATE).fetchone()
        return int(str(row[0])) if row else 0


def cleanup_now(batch: int = DELETE_BATCH) -> dict[str, int]:
    """Delete rows past their TTL in small batches (short transactions that never hold up the
    cost path); Redis partitions expire by themselves (EXPIRE set when written)."""
    deleted: dict[str, int] = {}
    for table, days in TTL_DAYS.items():
        column = "day" if table == "daily_cost_summaries" else "created_at"
        columns = {"daily_cost_summaries": "day, model, task_type",
                   "routing_selections": "task_id", "cost_entries": "id"}[table]
        cutoff = ("(now() AT TIME ZONE 'UTC')::date - %s" if column == "day"
                  else "now() - make_interval(days => %s)")
        total = 0
        while True:
            with db.connection() as conn:
                conn.execute("SET LOCAL lock_timeout = '2s'")
                n = conn.execute(
                    f"DELETE FROM {table} WHERE ({columns}) IN (SELECT {columns} FROM {table} "
                    f"WHERE {column} < {cutoff} LIMIT %s)", (days, batch)).rowcount
            total += n
            if n < batch:
                break
        deleted[table] = total
    return deleted


@app.task(name="fleet.beat.aggregate_costs")
@once_per_slot(60)
def aggregate_costs() -> int:
    n = aggregate_costs_now()
    log.info("aggregated new cost rows into %d daily summary groups", n)
    return n


@app.task(name="fleet.beat.drain_cost_spool")
@once_per_slot(5)
def drain_cost_spool() -> int:
    moved = CostTracker().drain() + drain_selections()
    if moved:
        log.info("wrote %d spooled rows to PostgreSQL", moved)
    return moved


@app.task(name="fleet.beat.rebuild_budgets")
@once_per_slot(300)
def rebuild_budgets() -> dict[str, str]:
    ledger = get_ledger()
    if not ledger.active:
        return {}
    return {period: str(total) for period, total in ledger.rebuild().items()}


@app.task(name="fleet.beat.cleanup")
@once_per_slot(3600)
def cleanup() -> dict[str, int]:
    deleted = cleanup_now()
    log.info("TTL cleanup deleted %s", deleted)
    return deleted
