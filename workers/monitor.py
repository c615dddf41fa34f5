"""Fleet events as Celery events (what Flower and ``celery events`` show), sent cheaply.

``Task.send_event`` opens a dispatcher (and acquires a producer) for every call: about a
millisecond of worker CPU per task. In a worker whose tasks run in its own process (threads,
solo, gevent, eventlet pools) the consumer's own dispatcher is at hand instead: events given to
it join the worker's task events in a buffer that its event loop publishes as one batch message
(``<group>.multi``; event receivers unpack it into single events). A prefork child has no
consumer and falls back to ``Task.send_event``.

The event's group gets its buffer under the dispatcher's lock: ``flush`` iterates the group
buffers holding that lock, and a group first created from a task thread without it changed
the dict during that iteration ("dictionary changed size during iteration" stopped the
consumer).
"""

from __future__ import annotations

from typing import Any

from celery import Task
from celery.events.event import group_from
from celery.signals import worker_ready


class _Consumer:
    """The worker's consumer, once it is ready (``None`` in a prefork child or a client)."""

    current: Any = None


@worker_ready.connect
def _remember_consumer(sender: Any = None, **_: Any) -> None:
    _Consumer.current = sender


# Fields every Celery event has; event receivers (Flower) break on a payload that redefines
# them, e.g. an ISO ``timestamp`` where they expect seconds.
RESERVED_FIELDS = frozenset({"type", "timestamp", "hostname", "utcoffset", "pid", "clock",
                             "uuid", "local_received"})


def send_task_event(task: Task, type_: str, **fields: Any) -> None:
    """Send a monitoring event about the running task (best effort, never retried)."""
    clash = RESERVED_FIELDS.intersection(fields)
    if clash:
        raise ValueError(f"{type_} event redefines Celery event fields {sorted(clash)}")
    consumer = _Consumer.current
    dispatcher = getattr(consumer, "event_dispatcher", None)
    if dispatcher is None or not dispatcher.enabled:
        task.send_event(type_, retry=False, **fields)
        return
    group = group_from(type_)
    if group not in dispatcher.buffer_group:
        # Once per dispatcher: the consumer builds a new one after a broker reconnection.
        with dispatcher.mutex:
            dispatcher._group_buffer[group]  # a defaultdict: creates the group's buffer
            dispatcher.buffer_group = frozenset(dispatcher.buffer_group) | {group}
    dispatcher.send(type_, uuid=task.request.id, **fields)
