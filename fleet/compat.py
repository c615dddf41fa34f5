"""Work-arounds for known bugs in the libraries the fleet runs on, each with its reason.

kombu's Redis transport: once the broker connection is lost, a channel of the old connection
(closing it, or acking a message a task finished meanwhile) builds connection parameters from a
connection that is already gone and raises ``AttributeError: 'NoneType' object has no
attribute 'hostname'`` (the family of celery/kombu#582, #659, #970). Celery treats that as
unrecoverable and the worker exits instead of reconnecting. Raising a connection error there
instead lets Celery handle it as what it is: the ack is logged as failed, the message stays
unacknowledged in Redis and is redelivered after the visibility timeout, where the fleet's
duplicate check acknowledges it without running the task again.

kombu's Redis transport also builds a new ``redis.Redis`` object (response-callback tables and
all, ~0.1 ms) for every publish, ack and poll outside the event loop: for each task message,
each Celery event and each result. A client object only holds a reference to the channel's
connection pool and is thread-safe, so one per channel and pool does the same work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

_original_connparams = kombu_redis.Channel._connparams


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.ConnectionError("the broker connection of this channel is closed")
    return _original_connparams(self, asynchronous)  # type: ignore[no-untyped-call]


@contextmanager
def _conn_or_acquire(self: Any, client: Any = None) -> Iterator[Any]:
    if client:
        yield client
        return
    pool = self.pool  # a new pool after kombu resets it on a connection error
    cached = self.__dict__.get("_fleet_client")
    if cached is None or cached[0] is not pool:
        cached = self.__dict__["_fleet_client"] = (pool, self._create_client())
    yield cached[1]


def install() -> None:
    kombu_redis.Channel._connparams = _connparams  # type: ignore[method-assign]
    kombu_redis.Channel.conn_or_acquire = _conn_or_acquire  # type: ignore[method-assign]
