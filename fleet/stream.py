"""Stream protocol: live events on pub/sub plus a replay log, and the subscriber side.

Every event is appended to the Redis Stream ``fleet:log:<task_id>`` (entry id ``<seq+1>-0``)
and published on ``fleet:stream:<task_id>`` by :mod:`fleet.relay`. A redelivered task continues
numbering after the log's last event.

Consumer: :func:`subscribe` subscribes first, then reads the log, then follows the channel,
dropping events whose ``seq`` it has already yielded and filling any gap from the log, so a late
or reconnecting subscriber sees every event exactly once, in order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any, cast

import redis

from fleet.models import StreamEvent
from fleet.redis_client import get_redis

LogEntries = list[tuple[bytes, dict[bytes, bytes]]]
LOG_TTL_SECONDS = 3600


def channel_name(task_id: str) -> str:
    return f"fleet:stream:{task_id}"


def log_name(task_id: str) -> str:
    return f"fleet:log:{task_id}"


def read_log(client: redis.Redis, task_id: str, after_seq: int = -1) -> list[dict[str, Any]]:
    """Events in the replay log with seq > after_seq, in order."""
    entries = cast(LogEntries, client.xrange(log_name(task_id), min=f"{after_seq + 2}-0",
                                             max="+"))
    return [json.loads(fields[b"e"]) for _, fields in entries]


def last_logged(client: redis.Redis, task_id: str) -> dict[str, Any] | None:
    entries = cast(LogEntries, client.xrevrange(log_name(task_id), count=1))
    return json.loads(entries[0][1][b"e"]) if entries else None


def subscribe(task_id: str, after_seq: int = -1, *, timeout: float | None = None,
              client: redis.Redis | None = None) -> Iterator[StreamEvent]:
    """Yield every event of ``task_id`` with seq > after_seq, in order, ending after the final
    one. ``timeout`` bounds the silence between events (None waits forever)."""
    client = client or get_redis()
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(channel_name(task_id))
    last = after_seq
    try:
        def catch_up() -> Iterator[StreamEvent]:
            nonlocal last
            for raw in read_log(client, task_id, last):
                event = StreamEvent.model_validate(raw)
                last = event.seq
                yield event

        for event in catch_up():
            yield event
            if event.final:
                return
        quiet_since = time.monotonic()
        while True:
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                # Periodic log check covers messages lost while (re)connecting.
                caught = list(catch_up())
                yield from caught
                if any(e.final for e in caught):
                    return
                if caught:
                    quiet_since = time.monotonic()
                elif timeout is not None and time.monotonic() - quiet_since > timeout:
                    raise TimeoutError(f"no event for task {task_id} in {timeout}s")
                continue
            quiet_since = time.monotonic()
            event = StreamEvent.model_validate_json(message["data"])
            if event.seq <= last:
                continue
            if event.seq > last + 1:
                for missing in catch_up():  # the log is written before the publish
                    yield missing
                    if missing.final:
                        return
                continue
            last = event.seq
            yield event
            if event.final:
                return
    finally:
        pubsub.close()
