"""The subscriber side against real Redis: ordering, replay, resume, late and live subscribers."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from fleet.backends import keys
from fleet.streaming.relay import StreamPublisher
from fleet.streaming.subscribe import asubscribe, read_log, subscribe


def new_id() -> str:
    return f"s-{uuid.uuid4().hex}"


def test_late_subscriber_replays_everything_in_order(redis_client, relay) -> None:
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", relay)
    pub.emit("start")
    for i in range(50):
        pub.emit("chunk", {"text": str(i)})
    pub.emit("complete")
    events = list(subscribe(redis_client, task_id, timeout=5))
    assert [e.seq for e in events] == list(range(52))
    assert [e.data["text"] for e in events if e.type == "chunk"] == [str(i) for i in range(50)]


def test_resume_after_seq(redis_client, relay) -> None:
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", relay)
    for _ in range(5):
        pub.emit("chunk", {"text": "x"})
    pub.emit("complete")
    assert [e.seq for e in subscribe(redis_client, task_id, after_seq=2, timeout=5)] == [
        3, 4, 5]


def test_live_subscriber_sees_every_event_once(redis_client, relay) -> None:
    task_id = new_id()
    seen: list[int] = []
    ready = threading.Event()

    def consume() -> None:
        gen = subscribe(redis_client, task_id, timeout=10)
        ready.set()
        seen.extend(e.seq for e in gen)

    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait()
    pub = StreamPublisher(task_id, "m", relay)
    for _ in range(500):
        pub.emit("chunk", {"text": "y"})
    pub.emit("complete")
    thread.join(15)
    assert seen == list(range(501))


def test_redelivered_publisher_continues_numbering_and_never_duplicates(redis_client,
                                                                       relay) -> None:
    task_id = new_id()
    first = StreamPublisher(task_id, "m", relay)
    first.emit("start")
    first.emit("chunk", {"text": "a"})
    first.wait_written()
    second = StreamPublisher(task_id, "m", relay)  # a new attempt after a crash
    assert second.next_seq == 2 and not second.finished
    first.emit("chunk", {"text": "stale"})  # a zombie attempt publishing seq 2
    first.wait_written()
    second.emit("chunk", {"text": "b"})  # same seq 2: refused by the log, not published
    second.wait_written()
    assert [e["data"].get("text") for e in read_log(redis_client, task_id)] == [None, "a",
                                                                              "stale"]
    assert 0 < redis_client.ttl(keys.stream_log(task_id)) <= 3600


def test_async_subscriber_matches_the_sync_one(redis_client, relay, services) -> None:
    import asyncio

    from fleet.streaming.subscribe import asubscribe
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", relay)
    for i in range(20):
        pub.emit("chunk", {"text": str(i)})
    pub.emit("complete")

    async def collect(after: int) -> list[int]:
        return [e.seq async for e in asubscribe(services.redis_url, task_id, after, timeout=5)]

    assert asyncio.run(collect(-1)) == list(range(21))
    assert asyncio.run(collect(15)) == list(range(16, 21))


def test_a_silent_stream_times_out_in_both_subscribers(redis_client, services) -> None:
    task_id = f"silent-{uuid.uuid4().hex}"
    with pytest.raises(TimeoutError, match=task_id):
        list(subscribe(redis_client, task_id, timeout=1.2))

    async def follow() -> None:
        async for _ in asubscribe(services.redis_url, task_id, timeout=1.2):
            pass

    with pytest.raises(TimeoutError, match=task_id):
        asyncio.run(follow())
