"""Work-arounds for known bugs in the libraries the fleet runs on, each with its reason.

kombu's Redis transport: once the broker connection is lost, a channel of the old connection
(closing it, or acking a message a task finished meanwhile) builds connection parameters from a
connection that is already gone and raises ``AttributeError: 'NoneType' object has no
attribute 'hostname'`` (the family of celery/kombu#582, #659, #970). Celery treats that as
unrecoverable and the worker exits instead of reconnecting. Raising a connection error there
instead lets Celery handle it as what it is: the ack is logged as failed, the message stays
unacknowledged in Redis and is redelivered after the visibility timeout, where the fleet's
duplicate check acknowledges it without running the task again.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

_original_connparams = kombu_redis.Channel._connparams


def _connparams(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise redis.ConnectionError("the broker connection of this channel is closed")
    return _original_connparams(self, asynchronous)  # type: ignore[no-untyped-call]


def install() -> None:
    kombu_redis.Channel._connparams = _connparams  # type: ignore[method-assign]
