"""Persistence of routing selections (the seed's routing/selections partition, 7-day TTL)."""

from __future__ import annotations

import atexit
import json
import logging
from typing import Any, cast

import psycopg
import redis

from fleet.backends import keys
from fleet.backends.batch_writer import BatchWriter
from fleet.backends.postgres import Database, json_rows
from fleet.contracts import ModelSelection, QETask
from fleet.services import get_services

log = logging.getLogger("fleet.selections")

_COLUMNS = """task_id, model, task_type, agent_id, agent_type, complexity, reason,
    fallback_models, error_code, latency_us, selection, created_at"""
_INSERT = f"""
INSERT INTO routing_selections ({_COLUMNS})
SELECT {_COLUMNS} FROM jsonb_to_recordset(%s::jsonb) AS r(task_id text, model text,
    task_type text, agent_id text, agent_type text, complexity double precision, reason text,
    fallback_models jsonb, error_code text, latency_us integer, selection jsonb,
    created_at timestamptz)
ON CONFLICT (task_id) DO NOTHING
"""


LINGER_SECONDS = 0.05


def _row(task: QETask, selection: ModelSelection) -> dict[str, Any]:
    return {"task_id": task.id, "model": selection.model_name, "task_type": task.type.value,
            "agent_id": task.agent_id, "agent_type": task.agent_type,
            "complexity": selection.complexity.overall, "reason": selection.reason,
            "fallback_models": selection.fallback_models, "error_code": selection.error_code,
            "latency_us": selection.latency_us,
            "selection": selection.model_dump(mode="json", by_alias=True),
            "created_at": selection.timestamp}


def _insert(records: list[Record], cur: psycopg.Cursor[Any]) -> None:
    cur.execute(_INSERT, (json_rows([_row(t, s) for t, s in records]),))


Record = tuple[QETask, ModelSelection]


def store_selection(task: QETask, selection: ModelSelection) -> None:
    """Queue a selection for the background writer: dispatch does not wait for a log row.
    A redelivered dispatch of the same task keeps the first one; while PostgreSQL is down the
    records are spooled in Redis."""
    if get_services().db.probably_up():
        _writer().write_later([(task, selection)])
    else:
        _spool([(task, selection)])


def flush_selections() -> None:
    """Wait until every queued selection of this process is written."""
    _writer().flush()


def _write(records: list[Record]) -> list[Record]:
    with get_services().db.connection() as conn, conn.cursor() as cur:
        # A routing log, not money: no need to wait for the disk on every commit.
        cur.execute("SET LOCAL synchronous_commit TO OFF")
        _insert(records, cur)
    return records


def _spool(records: list[Record], exc: BaseException | None = None) -> None:
    if exc is not None:
        get_services().db.mark_down()
        log.warning("PostgreSQL unavailable (%s): spooling %d selections", exc, len(records))
    get_services().redis.rpush(keys.SELECTIONS_SPOOL, *(json.dumps({
        "task": t.model_dump(mode="json"),
        "selection": s.model_dump(mode="json", by_alias=True)}) for t, s in records))


def _writer() -> BatchWriter[Record]:
    return get_services().component("selection-writer", _start_writer)


def _start_writer() -> BatchWriter[Record]:
    # Selections gather for up to LINGER_SECONDS: a steady stream of dispatches is logged in
    # a few large transactions, not one per task. A process that exits (``fleet submit``)
    # writes what it holds first.
    writer = BatchWriter("fleet-selection-writer", _write, max_items=500, on_error=_spool,
                         linger_s=LINGER_SECONDS)
    atexit.register(_flush_at_exit, writer)
    return writer


def _flush_at_exit(writer: BatchWriter[Record]) -> None:
    try:
        writer.flush(timeout=10)
    except Exception as exc:  # the failed batch went to the Redis spool (on_error)
        log.warning("selections not flushed at exit: %s", exc)


def drain_selections(client: redis.Redis, db: Database, batch: int = 500) -> int:
    """Write the selections spooled while PostgreSQL was away; returns how many."""
    moved = 0
    while raw := cast(list[bytes], client.lrange(keys.SELECTIONS_SPOOL, 0, batch - 1)):
        records = [json.loads(r) for r in raw]
        with db.connection() as conn, conn.cursor() as cur:
            _insert([(QETask.model_validate(r["task"]),
                      ModelSelection.model_validate(r["selection"])) for r in records], cur)
        client.ltrim(keys.SELECTIONS_SPOOL, len(raw), -1)
        moved += len(raw)
    return moved
