"""Persistence of routing selections (the seed's routing/selections partition, 7-day TTL)."""

from __future__ import annotations

import json
import logging
from typing import cast

import psycopg
import psycopg_pool
from psycopg.types.json import Jsonb

from fleet import db
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


def store_selection(task: QETask, selection: ModelSelection) -> bool:
    """Store a selection; a redelivered dispatch of the same task keeps the first one. While
    PostgreSQL is down the record is spooled in Redis: routing must not stop for a log."""
    if db.probably_up():
        try:
            with db.connection() as conn:
                return conn.execute(_INSERT, _params(task, selection)).rowcount == 1
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            db.mark_down()
            log.warning("PostgreSQL unavailable (%s): spooling selections", exc)
    get_redis().rpush(SPOOL_KEY, json.dumps({
        "task": task.model_dump(mode="json"),
        "selection": selection.model_dump(mode="json", by_alias=True)}))
    return True


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
