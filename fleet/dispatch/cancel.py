"""Cancelling a task from outside the worker that runs it (an MCP client that gave up, an
operator): its stream ends with an ``error`` event TASK_004, its budget reservation is released,
and no attempt runs it any further."""

from __future__ import annotations

import json
import logging
import time
from typing import Literal, cast

from fleet.app import app
from fleet.backends import keys
from fleet.backends.redis import publish_command
from fleet.errors import FleetError, TaskCancelled
from fleet.services import Services
from fleet.streaming.subscribe import LOG_TTL_SECONDS

log = logging.getLogger("fleet.cancel")

CANCEL_WINDOW_S = 60  # how long running attempts' pollers see it (clocks may differ this much)
Cancelled = Literal["finished", "running", "ended"]


def cancel_task(services: Services, task_id: str, reason: str = "cancelled by its caller"
                ) -> Cancelled:
    """Cancel ``task_id``: ``finished`` when it had already ended; ``running`` when an attempt
    runs it (the attempt stops within a second, ends the stream and settles the budget);
    ``ended`` when none did (the stream is ended here and the reservation released)."""
    now = time.time()
    outcome = end_stream(services, task_id, TaskCancelled(reason), now)
    if outcome != "finished":  # where running attempts look for it (workers/attempt.py)
        pipe = services.redis.pipeline(transaction=False)
        pipe.zadd(keys.CANCELLED, {task_id: now})
        pipe.zremrangebyscore(keys.CANCELLED, "-inf", now - CANCEL_WINDOW_S)
        pipe.execute()
    if outcome == "ended":
        services.ledger.release(task_id)
    if outcome != "finished":
        app.control.revoke(task_id)  # a worker that has it queued drops it unrun
        log.info("task %s cancelled (%s)", task_id, outcome)
    return outcome


def end_stream(services: Services, task_id: str, error: FleetError,
               now: float | None = None) -> Cancelled:
    """End the task's stream with ``error`` unless it has ended or an attempt runs it (which
    then ends it), and mark the task so that no attempt starts it later (cancel.lua)."""
    reply = services.scripts["cancel"](
        keys=[keys.lease(task_id), keys.stream_log(task_id), keys.cancelled(task_id)],
        args=[task_id, now or time.time(), keys.stream_channel(task_id), LOG_TTL_SECONDS,
              json.dumps(error.to_dict()), keys.CANCEL_KEEP_SECONDS,
              publish_command(services.redis)])
    return cast(Cancelled, reply.decode() if isinstance(reply, bytes) else reply)
