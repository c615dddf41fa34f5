"""CostTracker: prices token usage exactly (Decimal) and records one row per task attempt."""

from __future__ import annotations

import contextlib
import logging
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from typing import Any, cast

import psycopg
import psycopg_pool

from fleet import db
from fleet.batching import BatchWriter
from fleet.config import ModelConfig, get_settings
from fleet.hold import HeldRows
from fleet.metrics import COST_SPOOLED
from fleet.models import CostEntry, TokenUsage
from fleet.redis_client import REDIS_DOWN, get_redis

log = logging.getLogger("fleet.costs")

_THOUSAND = Decimal(1000)
_QUANTUM = Decimal("0.00000001")  # cost_usd is numeric(18, 8)


def price(usage: TokenUsage, model: ModelConfig) -> Decimal:
    """Cost in USD: the seed's formula, with cache reads and writes at their own prices.

    Cached input tokens are billed at the cache-read price when one is configured, otherwise
    as ordinary input; cache writes likewise fall back to the input price.
    """
    p = model.capabilities.cost_per_1k_tokens
    cache_read = p.cache_read if p.cache_read is not None else p.input
    cache_write = p.cache_write if p.cache_write is not None else p.input
    total = (Decimal(usage.input_tokens) * p.input + Decimal(usage.output_tokens) * p.output
             + Decimal(usage.cached_tokens) * cache_read
             + Decimal(usage.cache_write_tokens) * cache_write) / _THOUSAND
    return total.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)


_COLUMNS = """task_id, attempt, segment, model, provider, task_type, agent_id, input_tokens,
    output_tokens, cached_tokens, cache_write_tokens, cost_usd, estimated, created_at"""
_INSERT = f"""
INSERT INTO cost_entries ({_COLUMNS})
SELECT {_COLUMNS} FROM jsonb_to_recordset(%s::jsonb) AS r(task_id text, attempt integer,
    segment smallint, model text, provider text, task_type text, agent_id text,
    input_tokens integer, output_tokens integer, cached_tokens integer,
    cache_write_tokens integer, cost_usd numeric, estimated boolean, created_at timestamptz)
ON CONFLICT ON CONSTRAINT cost_entries_one_per_attempt DO NOTHING
RETURNING task_id, attempt, segment
"""


def _row(entry: CostEntry) -> dict[str, Any]:
    return {"task_id": entry.task_id, "attempt": entry.attempt, "segment": entry.segment,
            "model": entry.model,
            "provider": entry.provider, "task_type": entry.task_type,
            "agent_id": entry.agent_id, **entry.usage.model_dump(exclude={"estimated"}),
            "cost_usd": entry.cost_usd, "estimated": entry.usage.estimated,
            "created_at": entry.created_at}


@lru_cache(maxsize=1)
def _group_commit() -> BatchWriter[CostEntry]:
    """Cost rows of all task threads of this process, committed together."""
    return BatchWriter("fleet-cost-writer", CostTracker._insert)


SPOOL_KEY = "fleet:costs:spool"
SPOOL_LOCK = "fleet:costs:spool:lock"


class CostTracker:
    """Prices usage and persists cost rows; a second write of the same attempt is a no-op.

    When PostgreSQL is unreachable the rows go to a Redis list (the spool) instead, and
    :meth:`drain` writes them once it is back (beat runs it every few seconds); the unique key
    makes a row written twice count once. When Redis is unreachable too, the rows are held on
    this host's disk (:class:`fleet.hold.HeldRows`) until :meth:`flush_held` (or the next
    record) can spool them, or, if this process dies first, the next worker adopts them.
    """

    def __init__(self, held: HeldRows | None = None) -> None:
        self._held = held

    @property
    def held(self) -> HeldRows:
        if self._held is None:  # read the settings when first needed, not at import
            self._held = HeldRows(get_settings().fleet_hold_dir)
        return self._held

    def entry(self, *, task_id: str, attempt: int, model: ModelConfig, task_type: str,
              agent_id: str | None, usage: TokenUsage, segment: int = 0) -> CostEntry:
        return CostEntry(task_id=task_id, attempt=attempt, segment=segment, model=model.name,
                         provider=model.provider, task_type=task_type, agent_id=agent_id,
                         usage=usage, cost_usd=price(usage, model))

    def record(self, entries: list[CostEntry]) -> list[CostEntry]:
        """Insert rows (spooling them if PostgreSQL is down); returns the entries that were new
        (a second write of the same attempt returns none; all of them when spooled)."""
        if not entries:
            return []
        if self.held.holding:
            with contextlib.suppress(*REDIS_DOWN):  # still away: the rows below fare the same
                self.flush_held()
        if db.probably_up():
            try:
                return _group_commit().write(entries)
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                db.mark_down()
                log.warning("PostgreSQL unavailable (%s): spooling cost rows", exc)
        try:
            self._spool(entries)
        except REDIS_DOWN as lost:
            try:
                self.held.hold(entries)
            except OSError as exc:  # the task goes on as Redis being away; the rows are lost
                log.critical("PostgreSQL and Redis both unavailable, and %d cost row(s) could "
                             "not be held on disk: %s", len(entries), exc)
                raise lost from exc
            log.error("PostgreSQL and Redis both unavailable: holding %d cost row(s) on disk "
                      "(%s) until one is back", len(entries), self.held.path)
            raise
        return entries

    def flush_held(self) -> int:
        """Spool the rows held while PostgreSQL and Redis were both away; returns how many."""
        return self.held.flush(self._spool)

    def adopt_held(self) -> int:
        """Spool the rows that dead processes of this host held; returns how many."""
        return self.held.adopt(self._spool)

    @staticmethod
    def _spool(entries: list[CostEntry]) -> None:
        get_redis().rpush(SPOOL_KEY, *(e.model_dump_json() for e in entries))
        COST_SPOOLED.inc(len(entries))

    @staticmethod
    def _insert(entries: list[CostEntry]) -> list[CostEntry]:
        # One statement: the batch's rows commit together, and PostgreSQL waits for the disk
        # (money: synchronous_commit stays on).
        with db.autocommit() as conn, conn.cursor() as cur:
            cur.execute(_INSERT, (db.json_rows([_row(e) for e in entries]),))
            inserted = {cast(tuple[str, int, int], tuple(row)) for row in cur.fetchall()}
        new: list[CostEntry] = []
        for entry in entries:  # a key twice in one batch: only its first entry is new
            key = (entry.task_id, entry.attempt, entry.segment)
            if key in inserted:
                inserted.discard(key)
                new.append(entry)
        return new

    @staticmethod
    def spend_by_attempt(task_id: str) -> dict[int, Decimal]:
        """What each recorded attempt of a task cost (none when PostgreSQL is down: the
        ledger's next rebuild counts them)."""
        if not db.probably_up():
            return {}
        try:
            with db.connection() as conn:
                rows = cast(list[tuple[int, Decimal]], conn.execute(
                    "SELECT attempt, sum(cost_usd) FROM cost_entries WHERE task_id = %s "
                    "GROUP BY attempt", (task_id,)).fetchall())
                return dict(rows)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("could not read the spend of task %s: %s", task_id, exc)
            return {}

    def drain(self, batch: int = 1000) -> int:
        """Write spooled rows to PostgreSQL; returns how many rows left the spool."""
        client = get_redis()
        if not client.set(SPOOL_LOCK, "1", nx=True, ex=300):
            return 0  # another drainer is at it; LTRIM below assumes one at a time
        moved = 0
        try:
            while True:
                raw = cast(list[bytes], client.lrange(SPOOL_KEY, 0, batch - 1))
                if not raw:
                    return moved
                self._insert([CostEntry.model_validate_json(r) for r in raw])
                client.ltrim(SPOOL_KEY, len(raw), -1)
                moved += len(raw)
        finally:
            client.delete(SPOOL_LOCK)
