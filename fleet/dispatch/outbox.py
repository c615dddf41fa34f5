"""Execute messages not yet taken by a worker, and the redelivery of those a broker lost.

kombu's Redis transport pops a message off its queue (``BRPOP``) before it records it as
unacknowledged, and it records it from the client: a worker killed with ``kill -9``, or a Redis
that shuts down, between the two loses the message, and the visibility timeout cannot bring
back what was never recorded (the celery/kombu#305 family). The dispatcher therefore keeps a
copy of every execute message here before sending it, and a worker of every retry it sends; a
worker removes the copy when the task starts (the lease script does it, in the same round
trip), and from then on kombu's unacked set and the visibility timeout cover the message. A
sweep in every worker re-sends the copies whose task has not started ``redeliver_after``
seconds after it was sent.

A re-sent copy of a message that was merely slow (a long queue) is harmless: the worker
acknowledges a task that has finished and retries one that is running elsewhere. Each message
is re-sent at most ``MAX_REDELIVERIES`` times.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import redis

from fleet.app import app
from fleet.backends import keys
from fleet.contracts import ModelSelection, QETask
from fleet.metrics import REDELIVERIES
from fleet.services import get_config, get_settings

log = logging.getLogger("fleet.outbox")

OUTBOX_KEY = keys.OUTBOX
DUE_KEY = keys.OUTBOX_DUE
EXECUTE_TASK = "fleet.execute"
MAX_REDELIVERIES = 3


def redeliver_after() -> float:
    """Seconds a task may wait for a worker before its message is presumed lost."""
    return float(os.environ.get("FLEET_REDELIVER_AFTER") or get_config().fleet.redeliver_after)


@dataclass(frozen=True, slots=True)
class Message:
    task_id: str
    queue: str
    priority: int | None
    kwargs: dict[str, Any]
    kwargsrepr: str
    redelivered: int = 0

    def to_json(self) -> str:
        return json.dumps({"queue": self.queue, "priority": self.priority,
                           "kwargs": self.kwargs, "kwargsrepr": self.kwargsrepr,
                           "redelivered": self.redelivered})

    @classmethod
    def from_json(cls, task_id: str, raw: bytes | str) -> Message:
        data = json.loads(raw)
        return cls(task_id, data["queue"], data["priority"], data["kwargs"],
                   data["kwargsrepr"], data["redelivered"])


def execute_message(task: QETask, selection: ModelSelection) -> Message:
    """The execute message of a routed task (sent by the dispatcher, and again by a retry)."""
    return Message(
        task.id, selection.queue, task.priority,
        {"task": task.model_dump(mode="json"),
         "selection": selection.model_dump(mode="json", by_alias=True)},
        # What Flower and task events show: a short summary, not the task's code and context
        # (and Celery need not build a repr of the whole payload per message).
        repr({"task": task.id, "type": task.type.value, "model": selection.model_name}))


def send_execute(message: Message) -> None:
    # The QE task id doubles as the execute task's Celery id: AsyncResult(task.id) is its
    # result, and a redelivered dispatch (or outbox sweep) re-sends the same id, which the
    # worker de-duplicates.
    app.send_task(EXECUTE_TASK, task_id=message.task_id, queue=message.queue,
                  priority=broker_priority(message.priority), kwargs=message.kwargs,
                  argsrepr="()", kwargsrepr=message.kwargsrepr)


def broker_priority(priority: int | None) -> int | None:
    """A task's priority (0 served first: Celery's Redis convention, the fleet's) as its
    broker takes it: AMQP serves the highest number first."""
    if priority is None or not get_settings().on_rabbitmq:
        return priority
    return 9 - priority


def remember(client: redis.Redis, message: Message, now: float | None = None) -> None:
    """Keep a copy of ``message`` until a worker takes it (call before sending it)."""
    due = (now or time.time()) + redeliver_after()
    pipe = client.pipeline(transaction=True)
    pipe.hset(OUTBOX_KEY, message.task_id, message.to_json())
    pipe.zadd(DUE_KEY, {message.task_id: due})
    pipe.execute()


def forget(client: redis.Redis, task_id: str) -> None:
    """Drop the copy of a message that was never sent, or that a worker took."""
    pipe = client.pipeline(transaction=True)
    pipe.hdel(OUTBOX_KEY, task_id)
    pipe.zrem(DUE_KEY, task_id)
    pipe.execute()


Send = Callable[[Message], None]


def redeliver_due(client: redis.Redis, send: Send, now: float | None = None,
                  limit: int = 100) -> int:
    """Re-send up to ``limit`` messages whose task has not started by its due time; returns
    how many were sent. A message already re-sent ``MAX_REDELIVERIES`` times is dropped."""
    now = now or time.time()
    sent = 0
    due = cast(list[bytes], client.zrangebyscore(DUE_KEY, "-inf", now, start=0, num=limit))
    for raw_id in due:
        task_id = raw_id.decode()
        raw = cast(bytes | None, client.hget(OUTBOX_KEY, task_id))
        if raw is None:  # taken meanwhile
            client.zrem(DUE_KEY, task_id)
            continue
        message = Message.from_json(task_id, raw)
        if message.redelivered >= MAX_REDELIVERIES:
            log.error("task %s has not started after %d redeliveries; giving up on it",
                      task_id, message.redelivered)
            forget(client, task_id)
            continue
        again = replace(message, redelivered=message.redelivered + 1)
        # Record the next due time first: a sweep that dies after sending must not leave the
        # copy due at once for the next sweeper (a second copy is harmless, a storm is not).
        remember(client, again, now)
        send(again)
        REDELIVERIES.inc()
        log.warning("task %s has not started %.0f s after it was sent; its message is "
                    "presumed lost and was sent again (%d of %d)", task_id,
                    redeliver_after(), again.redelivered, MAX_REDELIVERIES)
        sent += 1
    return sent


class Sweeper:
    """A daemon thread that runs :func:`redeliver_due` every ``interval`` seconds in one
    process of the fleet at a time (a lock in Redis)."""

    def __init__(self, client: redis.Redis, send: Send, interval: float) -> None:
        self.client, self.send, self.interval = client, send, interval
        self._thread = threading.Thread(target=self._run, name="fleet-outbox-sweeper",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            try:
                if self.client.set(keys.OUTBOX_SWEEP_LOCK, os.getpid(), nx=True,
                                   px=max(1, int(self.interval * 1000))):
                    redeliver_due(self.client, self.send)
            except Exception as exc:  # Redis or the broker away: the thread must live on
                log.warning("outbox sweep failed, tried again in %.0f s: %s", self.interval,
                            exc)
