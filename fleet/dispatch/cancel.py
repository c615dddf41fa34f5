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
from fleet.errors import TaskCancelled
from fleet.services import Services
from fleet.streaming.subscribe import LOG_TTL_SECONDS

log = logging.getLogger("fleet.cancel")

KEEP_SECONDS = 24 * 3600  # a task redelivered within this long after its cancellation is not run
Cancelled = Literal["finished", "running", "ended"]


def cancel_task(services: Services, task_id: str, reason: str = "cancelled by its caller"
                ) -> Cancelled:
    """Cancel ``task_id``: ``finished`` when it had already ended; ``running`` when an attempt
    runs it (the attempt stops within a second, ends the stream and settles the budget);
    ``ended`` when none did (the stream is ended here and the reservation released)."""
    error = TaskCancelled(reason)
    reply = services.scripts["cancel"](
        keys=[keys.lease(task_id), keys.stream_log(task_id), keys.CANCELLED],
        args=[task_id, time.time(), keys.stream_channel(task_id), LOG_TTL_SECONDS,
              json.dumps(error.to_dict()), KEEP_SECONDS])
    outcome = cast(Cancelled, reply.decode() if isinstance(reply, bytes) else reply)
    if outcome == "ended":
        services.ledger.release(task_id)
    if outcome != "finished":
        app.control.revoke(task_id)  # a worker that has it queued drops it unrun
        log.info("task %s cancelled (%s)", task_id, outcome)
    return outcome
