"""Work-arounds for known bugs in the libraries the fleet runs on, each with its reason.

kombu's Redis transport: once the broker connection is lost, a channel of the old connection
(closing it, or acking a message a task finished meanwhile) builds connection parameters from a
connection that is already gone and raises ``AttributeError: 'NoneType' object has no
attribute 'hostname'`` (the family of celery/kombu#582, #659, #970). Celery treats that as
unrecoverable and the worker exits instead of reconnecting. Raising a connection error there
instead lets Celery handle it as what it is: the ack is logged as failed, the message stays
unacknowledged in Redis and is redelivered after the visibility timeout, where the fleet's
duplicate check acknowledges it without running the task again.

kombu's Redis transport pops a message (``BRPOP``) and only then records it as unacknowledged,
from the client (celery/kombu#305). When that record fails because Redis just went away (a
restart, a failover), kombu drops the message it holds: it is in no queue and in no unacked
hash. The consumer here keeps such a message and puts it back at the head of its queue the next
time it polls, once the broker is back. (A worker killed in that instant still loses it; the
fleet's outbox covers the execute hop for that.)

kombu's Redis transport also builds a new ``redis.Redis`` object (response-callback tables and
all, ~0.1 ms) for every publish, ack and poll outside the event loop: for each task message,
each Celery event and each result. A client object only holds a reference to the channel's
connection pool and is thread-safe, so one per channel and pool does the same work.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from fleet.metrics import MESSAGES_PUT_BACK

log = logging.getLogger("fleet.compat")

_original_connparams = kombu_redis.Channel._connparams
_original_append = kombu_redis.QoS.append
_original_brpop_start = kombu_redis.Channel._brpop_start
# Messages popped whose unacked record failed: (payload, exchange, routing key).
_popped_unrecorded: deque[tuple[Any, str, str]] = deque()
_restoring = threading.Lock()


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


def _append(self: Any, message: Any, delivery_tag: str) -> None:
    try:
        _original_append(self, message, delivery_tag)  # type: ignore[no-untyped-call]
    except self.channel.connection_errors:
        delivery = message.delivery_info
        _popped_unrecorded.append((message._raw, delivery["exchange"],
                                   delivery["routing_key"]))
        log.warning("broker lost while recording message %s: it is put back once the "
                    "broker is reachable", delivery_tag)
        raise


def _brpop_start(self: Any, timeout: Any = None) -> None:
    if _popped_unrecorded:
        try:
            _put_back(self)
        except self.connection_errors as exc:  # still away: the poll below reports it
            log.warning("broker still unreachable, holding %d message(s): %s",
                        len(_popped_unrecorded), exc)
    _original_brpop_start(self, timeout)  # type: ignore[no-untyped-call]


def _put_back(channel: Any) -> None:
    with _restoring:
        while _popped_unrecorded:
            payload, exchange, routing_key = _popped_unrecorded[0]
            with channel.conn_or_acquire() as client, client.pipeline() as pipe:
                channel._do_restore_message(payload, exchange, routing_key, pipe)
                pipe.execute()  # a broker still away raises: the message stays held
            _popped_unrecorded.popleft()
            MESSAGES_PUT_BACK.inc()
            log.info("put back message %s", payload.get("properties", {}).get("delivery_tag"))


def install() -> None:
    kombu_redis.Channel._connparams = _connparams  # type: ignore[method-assign]
    kombu_redis.Channel.conn_or_acquire = _conn_or_acquire  # type: ignore[method-assign]
    kombu_redis.QoS.append = _append  # type: ignore[method-assign]
    kombu_redis.Channel._brpop_start = _brpop_start  # type: ignore[method-assign]
