"""The baseline for dispatch throughput: bare Celery running a no-op task with the fleet's own
broker, serialisation, acknowledgement and prefetch settings."""

from __future__ import annotations

import os

from celery import Celery

app = Celery("noop", broker=os.environ["FLEET_BROKER_URL"], backend=os.environ["FLEET_REDIS_URL"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                task_acks_late=True, task_reject_on_worker_lost=True,
                worker_prefetch_multiplier=1, worker_send_task_events=True,
                task_send_sent_event=True, result_extended=False,
                task_default_queue="bench.noop", worker_hijack_root_logger=False)


@app.task(name="bench.noop")
def noop(**kwargs: object) -> dict[str, str]:
    return {"status": "complete"}
