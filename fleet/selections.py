"""Persistence of routing selections (the seed's routing/selections partition, 7-day TTL)."""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import cast

from psycopg.types.json import Jsonb

from fleet import db
from fleet.batching import BatchWriter
from fleet.models import ModelSelection, QETask
from fleet.redis_client import get_redis

log = logging.getLogger("fleet.selections")

_INSERT = """
INSERT INTO routing_selections (task_id, model, task_type, agent_id, agent_type, complexity,
    reason, fallback_models, error_code, latency_us, selection, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (task_id) DO NOTHING
"""


SPOOL_KEY = "fleet:selections:spool"


def _params(task: QETask, selection: ModelSelection) -> tuple[object, ...]:
    return (task.id, selection.model_name, task.type.value, task.agent_id, task.agent_type,
            selection.complexity.overall, selection.reason, Jsonb(selection.fallback_models),
            selection.error_code, selection.latency_us,
            Jsonb(selection.model_dump(mode="json", by_alias=True)), selection.timestamp)


Record = tuple[QETask, ModelSelection]


def store_selection(task: QETask, selection: ModelSelection) -> None:
    """Queue a selection for the background writer: dispatch does not wait for a log row.
    A redelivered dispatch of the same task keeps the first one; while PostgreSQL is down the
    records are spooled in Redis."""
    if db.probably_up():
        _writer().write_later([(task, selection)])
    else:
        _spool([(task, selection)])


def flush_selections() -> None:
    """Wait until every queued selection of this process is written."""
    _writer().flush()


def _write(records: list[Record]) -> list[Record]:
    with db.connection() as conn, conn.cursor() as cur:
        # A routing log, not money: no need to wait for the disk on every commit.
        cur.execute("SET LOCAL synchronous_commit TO OFF")
        cur.executemany(_INSERT, [_params(t, s) for t, s in records])
    return records


def _spool(records: list[Record], exc: BaseException | None = None) -> None:
    if exc is not None:
        db.mark_down()
        log.warning("PostgreSQL unavailable (%s): spooling %d selections", exc, len(records))
    get_redis().rpush(SPOOL_KEY, *(json.dumps({
        "task": t.model_dump(mode="json"),
        "selection": s.model_dump(mode="json", by_alias=True)}) for t, s in records))


@lru_cache(maxsize=1)
def _writer() -> BatchWriter[Record]:
    return BatchWriter("fleet-selection-writer", _write, max_items=500, on_error=_spool)


def drain_selections(batch: int = 500) -> int:
    client = get_redis()
    moved = 0
    while raw := cast(list[bytes], client.lrange(SPOOL_KEY, 0, batch - 1)):
        records = [json.loads(r) for r in raw]
        with db.connection() as conn, conn.cursor() as cur:
            cur.executemany(_INSERT, [
                _params(QETask.model_validate(r["task"]),
                        ModelSelection.model_validate(r["selection"])) for r in records])
        client.ltrim(SPOOL_KEY, len(raw), -1)
        moved += len(raw)
    return moved
