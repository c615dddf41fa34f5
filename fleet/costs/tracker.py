"""CostTracker: one priced row per provider call, committed before the budget hears of it.

Rows of all task threads of a process are committed together (one statement per batch, see
:class:`~fleet.backends.batch_writer.BatchWriter`); a second write of the same (task, attempt,
segment) is a no-op. When PostgreSQL is unreachable the rows go to the Redis spool, and when
Redis is away too, to this host's disk (:mod:`fleet.costs.spool`).
"""

from __future__ import annotations

import contextlib
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import psycopg
import psycopg_pool
import redis

from fleet.backends.batch_writer import BatchWriter
from fleet.backends.postgres import Database, json_rows
from fleet.backends.redis import REDIS_DOWN
from fleet.config import ModelConfig
from fleet.contracts import CostEntry, TokenUsage
from fleet.costs.pricing import price
from fleet.costs.spool import HeldRows, drain_spool, spool_rows

log = logging.getLogger("fleet.costs")

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


def cost_entry(*, task_id: str, attempt: int, model: ModelConfig, task_type: str,
               agent_id: str | None, usage: TokenUsage, segment: int = 0) -> CostEntry:
    """The priced row of one provider call."""
    return CostEntry(task_id=task_id, attempt=attempt, segment=segment, model=model.name,
                     provider=model.provider, task_type=task_type, agent_id=agent_id,
                     usage=usage, cost_usd=price(usage, model))


class CostTracker:
    """Persists cost rows; a second write of the same attempt is a no-op.

    When PostgreSQL is unreachable the rows go to a Redis list (the spool) instead, and
    :meth:`drain` writes them once it is back (beat runs it every few seconds); the unique key
    makes a row written twice count once. When Redis is unreachable too, the rows are held on
    this host's disk (:class:`~fleet.costs.spool.HeldRows`) until :meth:`flush_held` (or the
    next record) can spool them, or, if this process dies first, the next worker adopts them.
    """

    def __init__(self, db: Database, client: redis.Redis, hold_dir: Path) -> None:
        self.db = db
        self.client = client
        self.held = HeldRows(hold_dir)
        # Cost rows of all task threads of this process, committed together.
        self._group_commit = BatchWriter("fleet-cost-writer", self._insert)

    def record(self, entries: list[CostEntry]) -> list[CostEntry]:
        """Insert rows (spooling them if PostgreSQL is down); returns the entries that were new
        (a second write of the same attempt returns none; all of them when spooled)."""
        if not entries:
            return []
        if self.held.holding:
            with contextlib.suppress(*REDIS_DOWN):  # still away: the rows below fare the same
                self.flush_held()
        if self.db.probably_up():
            try:
                return self._group_commit.write(entries)
            except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
                self.db.mark_down()
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

    def _spool(self, entries: list[CostEntry]) -> None:
        spool_rows(self.client, entries)

    def _insert(self, entries: list[CostEntry]) -> list[CostEntry]:
        # One statement: the batch's rows commit together, and PostgreSQL waits for the disk
        # (money: synchronous_commit stays on).
        with self.db.autocommit() as conn, conn.cursor() as cur:
            cur.execute(_INSERT, (json_rows([_row(e) for e in entries]),))
            inserted = {cast(tuple[str, int, int], tuple(row)) for row in cur.fetchall()}
        new: list[CostEntry] = []
        for entry in entries:  # a key twice in one batch: only its first entry is new
            key = (entry.task_id, entry.attempt, entry.segment)
            if key in inserted:
                inserted.discard(key)
                new.append(entry)
        return new

    def spend_by_attempt(self, task_id: str) -> dict[int, Decimal]:
        """What each recorded attempt of a task cost (none when PostgreSQL is down: the
        ledger's next rebuild counts them)."""
        if not self.db.probably_up():
            return {}
        try:
            with self.db.connection() as conn:
                rows = cast(list[tuple[int, Decimal]], conn.execute(
                    "SELECT attempt, sum(cost_usd) FROM cost_entries WHERE task_id = %s "
                    "GROUP BY attempt", (task_id,)).fetchall())
                return dict(rows)
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("could not read the spend of task %s: %s", task_id, exc)
            return {}

    def drain(self, batch: int = 1000) -> int:
        """Write spooled rows to PostgreSQL; returns how many rows left the spool."""
        return drain_spool(self.client, self._insert, batch)
