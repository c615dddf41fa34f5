"""Stream protocol: live events on pub/sub plus a replay log, and the subscriber side.

Every event is appended to the Redis Stream ``fleet:log:{<task_id>}`` (entry id ``<seq+1>-0``)
and published on ``fleet:stream:{<task_id>}`` by :mod:`fleet.streaming.relay` (sharded pub/sub
on a Redis Cluster). A redelivered task continues numbering after the log's last event.

Consumer: :func:`subscribe` subscribes first, then reads the log, then follows the channel,
dropping events whose ``seq`` it has already yielded and filling any gap from the log, so a late
or reconnecting subscriber sees every event exactly once, in order. On a cluster it follows the
log itself (``XREAD BLOCK`` on the node that owns it): ordered and gap-free by construction, and
the same for the sync and asyncio clients.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.typing import KeyT, StreamIdT

from fleet.backends.keys import stream_channel, stream_log
from fleet.backends.redis import connect_async, is_cluster
from fleet.config import Settings
from fleet.contracts import FINAL_EVENTS, StreamEvent

LogEntries = list[tuple[bytes, dict[bytes, bytes]]]
LOG_TTL_SECONDS = 3600
LOG_READ_COUNT = 512  # events one XREAD of a followed log returns at most
FOLLOW_BLOCK_MS = 1000  # how long one XREAD waits for the next event


class Heard(enum.Enum):
    """A live message that is not the next event to yield."""

    DUPLICATE = "duplicate"  # already yielded (from the log): skip it
    GAP = "gap"  # events before it were missed: read them from the log


def read_log(client: redis.Redis, task_id: str, after_seq: int = -1) -> list[dict[str, Any]]:
    """Events in the replay log with seq > after_seq, in order."""
    entries = cast(LogEntries, client.xrange(stream_log(task_id), min=f"{after_seq + 2}-0",
                                             max="+"))
    return [json.loads(fields[b"e"]) for _, fields in entries]


def last_logged(client: redis.Redis, task_id: str) -> dict[str, Any] | None:
    entries = cast(LogEntries, client.xrevrange(stream_log(task_id), count=1))
    return json.loads(entries[0][1][b"e"]) if entries else None


class _Follower:
    """The subscriber's state machine, shared by the sync and async clients: yields each seq
    once and in order, whether it comes from the log or the channel."""

    def __init__(self, task_id: str, after_seq: int, timeout: float | None) -> None:
        self.task_id = task_id
        self.after_seq = after_seq
        self.last = after_seq
        self.done = False
        self.timeout = timeout
        self.quiet_since = time.monotonic()

    def heard(self) -> None:
        self.quiet_since = time.monotonic()

    def quiet(self, caught_up: list[StreamEvent]) -> None:
        """The channel was quiet and the log gave ``caught_up``: TimeoutError after
        ``timeout`` seconds with neither."""
        if caught_up:
            self.heard()
        elif self.timeout is not None and time.monotonic() - self.quiet_since > self.timeout:
            raise TimeoutError(f"no event for task {self.task_id} in {self.timeout}s")

    def from_log(self, entries: LogEntries) -> list[StreamEvent]:
        out = []
        for _, fields in entries:
            event = StreamEvent.model_validate_json(fields[b"e"])
            if event.seq > self.last:
                self.last = event.seq
                out.append(event)
                if event.final:
                    self.done = True
                    break
        return out

    def from_message(self, data: bytes) -> StreamEvent | Heard:
        """The event to yield, or why there is none to yield now."""
        event = StreamEvent.model_validate_json(data)
        if event.seq <= self.last:
            return Heard.DUPLICATE
        if event.seq > self.last + 1:
            return Heard.GAP  # the log is written before the publish: re-read it
        self.last = event.seq
        self.done = event.final
        return event

    def ended_before(self, tail: LogEntries) -> bool:
        """Resumed after the final event: nothing more will come."""
        if not tail:
            return False
        last = json.loads(tail[0][1][b"e"])
        return bool(last["type"] in FINAL_EVENTS and int(last["seq"]) <= self.after_seq)

    def log_range(self) -> tuple[str, str]:
        return f"{self.last + 2}-0", "+"

    def read_after(self) -> dict[KeyT, StreamIdT]:
        """XREAD's argument for the events after the last yielded (its ids are exclusive)."""
        return {stream_log(self.task_id): f"{self.last + 1}-0"}

    def from_read(self, reply: list[Any] | None) -> list[StreamEvent]:
        return self.from_log(reply[0][1] if reply else [])


def subscribe(client: redis.Redis, task_id: str, after_seq: int = -1, *,
              timeout: float | None = None) -> Iterator[StreamEvent]:
    """Yield every event of ``task_id`` with seq > after_seq, in order, once each, ending after
    the final one. ``timeout`` bounds the silence between events (None waits forever)."""
    follower = _Follower(task_id, after_seq, timeout)
    if is_cluster(client):
        yield from _follow_log(client, follower)
        return
    pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.subscribe(stream_channel(task_id))  # subscribe first, then read the log: no gap

    def catch_up() -> list[StreamEvent]:
        low, high = follower.log_range()
        return follower.from_log(cast(LogEntries, client.xrange(stream_log(task_id), low, high)))

    try:
        yield from catch_up()
        if follower.done or follower.ended_before(
                cast(LogEntries, client.xrevrange(stream_log(task_id), count=1))):
            return
        follower.heard()
        while not follower.done:
            message = pubsub.get_message(timeout=1.0)
            if message is None:  # quiet: the log covers anything missed while reconnecting
                caught = catch_up()
                yield from caught
                follower.quiet(caught)
                continue
            follower.heard()
            outcome = follower.from_message(message["data"])
            if outcome is Heard.GAP:
                yield from catch_up()
            elif isinstance(outcome, StreamEvent):
                yield outcome
    finally:
        pubsub.close()


def _follow_log(client: redis.Redis, follower: _Follower) -> Iterator[StreamEvent]:
    if follower.ended_before(cast(LogEntries, client.xrevrange(
            stream_log(follower.task_id), count=1))):
        return
    follower.heard()
    while not follower.done:
        caught = follower.from_read(cast(list[Any] | None, client.xread(
            follower.read_after(), count=LOG_READ_COUNT, block=FOLLOW_BLOCK_MS)))
        yield from caught
        follower.quiet(caught)


async def _afollow_log(client: aioredis.Redis, follower: _Follower
                       ) -> AsyncIterator[StreamEvent]:
    if follower.ended_before(await client.xrevrange(stream_log(follower.task_id), count=1)):
        return
    follower.heard()
    while not follower.done:
        caught = follower.from_read(await client.xread(
            follower.read_after(), count=LOG_READ_COUNT, block=FOLLOW_BLOCK_MS))
        for event in caught:
            yield event
        follower.quiet(caught)


async def asubscribe(url: str, task_id: str, after_seq: int = -1, *,
                     timeout: float | None = None, retries: int | None = None
                     ) -> AsyncIterator[StreamEvent]:
    """The asyncio twin of :func:`subscribe` (its own connection to ``url``, closed at the
    end; ``retries``: through a failover, FLEET_REDIS_RETRIES unless given)."""
    client = connect_async(url, Settings().fleet_redis_retries if retries is None else retries)
    follower = _Follower(task_id, after_seq, timeout)
    if is_cluster(client):
        try:
            async for event in _afollow_log(client, follower):
                yield event
        finally:
            await client.aclose()
        return
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(stream_channel(task_id))

    async def catch_up() -> list[StreamEvent]:
        low, high = follower.log_range()
        return follower.from_log(await client.xrange(stream_log(task_id), low, high))

    try:
        for event in await catch_up():
            yield event
        if follower.done or follower.ended_before(
                await client.xrevrange(stream_log(task_id), count=1)):
            return
        follower.heard()
        while not follower.done:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                caught = await catch_up()
                for event in caught:
                    yield event
                follower.quiet(caught)
                continue
            follower.heard()
            outcome = follower.from_message(message["data"])
            if outcome is Heard.GAP:
                for event in await catch_up():
                    yield event
            elif isinstance(outcome, StreamEvent):
                yield outcome
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
