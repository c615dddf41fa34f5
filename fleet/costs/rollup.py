"""The daily roll-up of cost rows and the TTL cleanup of the seed's §5.1 partitions (beat
runs both; ``fleet costs`` rolls up on demand)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from fleet.backends.postgres import Database
from fleet.config import CostTracking

SELECTIONS_TTL_DAYS = 7  # the seed's §5.1 routing/selections and router latencies


def ttl_days(tracking: CostTracking) -> dict[str, int]:
    """How long each table's rows are kept. Daily summaries outlive the raw rows (400 days by
    default, the seed's 30 at least), so a month's or a year's spend can still be read."""
    return {"cost_entries": tracking.raw_retention_days,
            "daily_cost_summaries": max(tracking.summary_retention_days,
                                        tracking.raw_retention_days),
            "routing_selections": SELECTIONS_TTL_DAYS, "routing_outcomes": SELECTIONS_TTL_DAYS}


def summarised_before(tracking: CostTracking, today: date) -> date:
    """The first day whose raw cost rows are all still kept: earlier days are read from the
    daily summaries (cleanup deletes rows older than ``rawRetentionDays`` to the second)."""
    return today - timedelta(days=tracking.raw_retention_days - 1)
DELETE_BATCH = 5000

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


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def recorded_spend(db: Database, tracking: CostTracking, start: date, end: date,
                   today: date) -> Decimal:
    """What was spent on days ``start`` up to ``end`` (exclusive): the raw rows for the days
    still kept whole, the daily summaries for the days before (their rows may be gone)."""
    boundary = summarised_before(tracking, today)
    with db.connection() as conn:
        raw = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM cost_entries "
            "WHERE created_at >= %s AND created_at < %s",
            (_midnight(max(start, boundary)), _midnight(end))).fetchone()
        summed = conn.execute(
            "SELECT coalesce(sum(cost_usd), 0) FROM daily_cost_summaries "
            "WHERE day >= %s AND day < %s", (start, min(end, boundary))).fetchone()
    return sum((Decimal(str(r[0])) for r in (raw, summed) if r), Decimal(0))


def aggregate_costs(db: Database) -> int:
    """Add cost rows written since the last run to the daily summaries; returns groups
    touched."""
    with db.connection() as conn:
        row = conn.execute(_AGGREGATE).fetchone()
        return int(str(row[0])) if row else 0


def cleanup(db: Database, tracking: CostTracking, batch: int = DELETE_BATCH) -> dict[str, int]:
    """Delete rows past their TTL in small batches (short transactions that never hold up the
    cost path); Redis partitions expire by themselves (EXPIRE set when written)."""
    deleted: dict[str, int] = {}
    for table, days in ttl_days(tracking).items():
        column = "day" if table == "daily_cost_summaries" else "created_at"
        columns = {"daily_cost_summaries": "day, model, task_type",
                   "routing_selections": "task_id", "routing_outcomes": "task_id, try_no",
                   "cost_entries": "id"}[table]
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
