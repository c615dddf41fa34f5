"""Periodic tasks: roll cost rows into daily summaries, delete rows past their TTL (seed §5.1)."""

from __future__ import annotations

import logging
from typing import Any

from fleet import db
from fleet.app import app

log = logging.getLogger("fleet.beat")

COST_TTL_DAYS = 30
SELECTION_TTL_DAYS = 7

_AGGREGATE = """
INSERT INTO daily_cost_summaries AS s (day, model, task_type, requests, input_tokens,
    output_tokens, cached_tokens, cache_write_tokens, cost_usd, updated_at)
SELECT (created_at AT TIME ZONE 'UTC')::date, model, task_type, count(*), sum(input_tokens),
    sum(output_tokens), sum(cached_tokens), sum(cache_write_tokens), sum(cost_usd), now()
FROM cost_entries
GROUP BY 1, 2, 3
ON CONFLICT (day, model, task_type) DO UPDATE SET
    requests = EXCLUDED.requests, input_tokens = EXCLUDED.input_tokens,
    output_tokens = EXCLUDED.output_tokens, cached_tokens = EXCLUDED.cached_tokens,
    cache_write_tokens = EXCLUDED.cache_write_tokens, cost_usd = EXCLUDED.cost_usd,
    updated_at = now()
"""


def aggregate_costs_now() -> int:
    """Recompute the daily summaries from cost rows (idempotent); returns rows upserted."""
    with db.connection() as conn:
        return conn.execute(_AGGREGATE).rowcount


def cleanup_now() -> dict[str, int]:
    with db.connection() as conn:
        costs = conn.execute("DELETE FROM cost_entries WHERE created_at < now() - make_interval("
                             "days => %s)", (COST_TTL_DAYS,)).rowcount
        selections = conn.execute(
            "DELETE FROM routing_selections WHERE created_at < now() - make_interval(days => %s)",
            (SELECTION_TTL_DAYS,)).rowcount
        summaries = conn.execute(
            "DELETE FROM daily_cost_summaries WHERE day < (now() AT TIME ZONE 'UTC')::date - %s",
            (COST_TTL_DAYS,)).rowcount
    return {"cost_entries": costs, "routing_selections": selections,
            "daily_cost_summaries": summaries}


@app.task(name="fleet.beat.aggregate_costs")
def aggregate_costs() -> int:
    n = aggregate_costs_now()
    log.info("aggregated costs into %d daily summary rows", n)
    return n


@app.task(name="fleet.beat.cleanup")
def cleanup() -> dict[str, Any]:
    deleted = cleanup_now()
    log.info("TTL cleanup deleted %s", deleted)
    return deleted
