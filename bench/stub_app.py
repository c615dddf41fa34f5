"""The ceiling for ``fleet.submit`` throughput: the fleet's own Celery settings and messages,
with a ``fleet.execute`` that does nothing.

Workers of this app consume the same ``model.<name>`` queue with the same broker, result
backend, acknowledgement and events as the fleet's, so a run through it costs everything
Celery does for a fleet task (the client's routing, reservation and selection row, the
larger message, the stored result) and nothing the task itself does.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

app = Celery("stub")
app.config_from_object("celeryconfig")


@app.task(name="fleet.execute", acks_late=True)
def execute(task: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    return {"task_id": task["id"], "status": "complete", "model": selection["modelName"]}
