"""The ``fleet.dispatch`` Celery task: what other services call by name to enqueue a QE task."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.worker.request import Request

from fleet.app import app, retry_in_place
from fleet.backends.redis import REDIS_DOWN, wait_for_redis
from fleet.contracts import QETask
from fleet.dispatch.cancel import end_stream
from fleet.dispatch.intake import parse_task
from fleet.dispatch.route import route
from fleet.errors import FleetError, InvalidTask
from fleet.services import get_services

log = logging.getLogger("fleet.dispatch")


class PayloadNotShown(Request):  # type: ignore[misc]  # Celery is untyped
    """What task events (Flower, ``celery events``) show of a dispatch: not the code and context
    another service sent (Celery's default is a repr of up to a kilobyte of them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._argsrepr, self._kwargsrepr = "()", "{'task': '(not shown)'}"


@app.task(name="fleet.dispatch", bind=True, throws=(FleetError,), acks_late=True,
          Request=PayloadNotShown)
def dispatch(self: Task, task: Any = None, **unexpected: Any) -> dict[str, Any]:
    """Route one QE task; returns the ModelSelection as JSON. Bad input raises a FleetError
    (logged, acknowledged, nothing enqueued); losing Redis retries the task once it is back
    (routing it again is idempotent: the reservation, the selection row and the execute
    message are keyed by the task id)."""
    services = get_services()
    qe_task: QETask | None = None
    try:
        if unexpected:
            raise InvalidTask(
                f"unexpected kwargs {sorted(unexpected)}; send kwargs={{'task': ...}}")
        if task is None:
            raise InvalidTask("missing kwarg 'task'")
        qe_task = parse_task(task, services.config.fleet.max_payload_bytes)
        return route(qe_task).model_dump(mode="json", by_alias=True)
    except FleetError as exc:
        log.warning("rejected dispatch %s: %s", self.request.id, exc)
        if qe_task is not None:  # whoever follows its stream learns why, instead of waiting
            end_stream(services, qe_task.id, exc)
        raise
    except REDIS_DOWN as exc:  # away for longer than the client's retries: not the task's fault
        log.warning("dispatch %s lost Redis (%s); it is retried once Redis is back",
                    self.request.id, exc)
        if wait_for_redis(time.monotonic() + services.config.fleet.task_timeout,
                          services.redis):
            raise retry_in_place(self, countdown=0) from exc
        raise
