"""Persistence of routing selections (the seed's routing/selections partition, 7-day TTL)."""

from __future__ import annotations

from psycopg.types.json import Jsonb

from fleet import db
from fleet.models import ModelSelection, QETask

_INSERT = """
INSERT INTO routing_selections (task_id, model, task_type, agent_id, agent_type, complexity,
    reason, fallback_models, error_code, latency_us, selection, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (task_id) DO NOTHING
"""


def store_selection(task: QETask, selection: ModelSelection) -> bool:
    """Store a selection; a redelivered dispatch of the same task keeps the first one."""
    with db.connection() as conn:
        cur = conn.execute(_INSERT, (
            task.id, selection.model_name, task.type.value, task.agent_id, task.agent_type,
            selection.complexity.overall, selection.reason, Jsonb(selection.fallback_models),
            selection.error_code, selection.latency_us,
            Jsonb(selection.model_dump(mode="json", by_alias=True)), selection.timestamp))
        return cur.rowcount == 1
