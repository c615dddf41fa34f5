"""Stream protocol against real Redis: ordering, replay, idempotent publish, late subscribers."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

from fleet.streaming.relay import StreamPublisher
from fleet.streaming.subscribe import asubscribe, read_log, subscribe


def new_id() -> str:
    return f"s-{uuid.uuid4().hex}"


def test_late_subscriber_replays_everything_in_order(redis_client) -> None:
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", redis_client)
    pub.emit("start")
    for i in range(50):
        pub.emit("chunk", {"text": str(i)})
    pub.emit("complete")
    events = list(subscribe(task_id, client=redis_client, timeout=5))
    assert [e.seq for e in events] == list(range(52))
    assert [e.data["text"] for e in events if e.type == "chunk"] == [str(i) for i in range(50)]


def test_resume_after_seq(redis_client) -> None:
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", redis_client)
    for _ in range(5):
        pub.emit("chunk", {"text": "x"})
    pub.emit("complete")
    assert [e.seq for e in subscribe(task_id, after_seq=2, client=redis_client, timeout=5)] == [
        3, 4, 5]


def test_live_subscriber_sees_every_event_once(redis_client) -> None:
    task_id = new_id()
    seen: list[int] = []
    ready = threading.Event()

    def consume() -> None:
        gen = subscribe(task_id, client=redis_client, timeout=10)
        ready.set()
        seen.extend(e.seq for e in gen)

    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait()
    pub = StreamPublisher(task_id, "m", redis_client)
    for _ in range(500):
        pub.emit("chunk", {"text": "y"})
    pub.emit("complete")
    thread.join(15)
    assert seen == list(range(501))


def test_redelivered_publisher_continues_numbering_and_never_duplicates(redis_client) -> None:
    task_id = new_id()
    first = StreamPublisher(task_id, "m", redis_client)
    first.emit("start")
    first.emit("chunk", {"text": "a"})
    first.wait_written()
    second = StreamPublisher(task_id, "m", redis_client)  # a new attempt after a crash
    assert second.next_seq == 2 and not second.finished
    first.emit("chunk", {"text": "stale"})  # a zombie attempt publishing seq 2
    first.wait_written()
    second.emit("chunk", {"text": "b"})  # same seq 2: refused by the log, not published
    second.wait_written()
    assert [e["data"].get("text") for e in read_log(redis_client, task_id)] == [None, "a",
                                                                              "stale"]
    assert 0 < redis_client.ttl(f"fleet:log:{task_id}") <= 3600


def test_async_subscriber_matches_the_sync_one(redis_client) -> None:
    import asyncio

    from fleet.streaming.subscribe import asubscribe
    from tests.conftest import REDIS_URL

    task_id = new_id()
    pub = StreamPublisher(task_id, "m", redis_client)
    for i in range(20):
        pub.emit("chunk", {"text": str(i)})
    pub.emit("complete")

    async def collect(after: int) -> list[int]:
        return [e.seq async for e in asubscribe(task_id, after, timeout=5, url=REDIS_URL)]

    assert asyncio.run(collect(-1)) == list(range(21))
    assert asyncio.run(collect(15)) == list(range(16, 21))


def test_coalescing_sends_far_fewer_chunks_than_deltas(redis_client) -> None:
    from fleet.streaming.chunker import BufferManager

    task_id = new_id()
    pub = StreamPublisher(task_id, "m", redis_client, buffer=BufferManager(64, 1000))
    deltas = [f" tok{i}" for i in range(1000)]
    for delta in deltas:
        pub.add_text(delta)
    pub.emit("complete")
    chunks = [e for e in read_log(redis_client, task_id) if e["type"] == "chunk"]
    assert "".join(c["data"]["text"] for c in chunks) == "".join(deltas)
    assert len(chunks) <= len(deltas) / 8  # 64-char chunks of 6-char deltas


def test_invalid_deltas_are_discarded_and_counted() -> None:  # STREAM_003
    from fleet.streaming.chunker import BufferManager

    buffer = BufferManager(1, 0)
    assert buffer.add("ok") == "ok"
    assert buffer.add(b"bytes") is None and buffer.add("\udc80") is None
    assert buffer.add("x" * (64 * 1024 + 1)) is None
    assert buffer.discarded == 3


class SlowRelay:
    """Wraps the relay's writer so every batch takes a while: a slow path to Redis."""

    def __init__(self, relay, delay: float) -> None:
        self.relay, self.delay, self.original = relay, delay, relay._write

    def __enter__(self):
        import time

        def slow(batch):
            time.sleep(self.delay)
            return self.original(batch)

        self.relay._write = slow
        return self

    def __exit__(self, *_):
        self.relay._write = self.original


def test_slow_redis_throttles_the_producer_and_loses_nothing(redis_client) -> None:
    from fleet.streaming.relay import get_relay

    task_id = new_id()
    pub = StreamPublisher(task_id, "m", redis_client, buffer_size=10,
                          backpressure_threshold=0.8)
    with SlowRelay(get_relay(redis_client), 0.02):
        for i in range(200):
            pub.emit("chunk", {"text": str(i)})
            assert len(pub._pending) <= 8  # never more than the high-water mark in memory
        pub.emit("complete")
    assert pub.backpressure_waits > 0
    assert [e["seq"] for e in read_log(redis_client, task_id)] == list(range(201))


def test_a_stuck_path_raises_stream_001(redis_client) -> None:
    import pytest

    from fleet.errors import BufferOverflow
    from fleet.streaming.relay import get_relay

    pub = StreamPublisher(new_id(), "m", redis_client, buffer_size=4, timeout_s=0.3)
    with SlowRelay(get_relay(redis_client), 1.0), pytest.raises(BufferOverflow) as info:
        for i in range(50):
            pub.emit("chunk", {"text": str(i)})
    assert info.value.code == "STREAM_001"


def test_drain_waits_until_every_handed_event_is_in_redis(redis_client) -> None:
    from fleet.streaming.relay import get_relay

    relay = get_relay(redis_client)
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", redis_client)
    with SlowRelay(relay, 0.5):
        for i in range(3):
            pub.emit("chunk", {"text": str(i)})
        assert not relay.drain(0.1)  # still being written
        assert relay.drain(5.0)
        assert [e["seq"] for e in read_log(redis_client, task_id)] == [0, 1, 2]


def test_a_second_attempt_in_the_same_process_must_wait_for_the_lease(redis_client) -> None:
    from fleet.streaming.relay import get_relay
    from workers.attempt import Attempt, LeaseKeeper

    keeper = LeaseKeeper(redis_client, lease_ms=5000)
    task_id = new_id()
    assert keeper.acquire(task_id) == Attempt(1, None)
    waited = keeper.acquire(task_id)  # a duplicate delivery to this same worker
    assert isinstance(waited, int) and 0 < waited <= 5000
    keeper.release(task_id)
    assert get_relay(redis_client).drain(5.0)  # the release rides with the relay
    assert keeper.acquire(task_id) == Attempt(2, None)  # only an attempt that ran is counted
    keeper.release(task_id)


def test_an_attempt_starts_where_the_stream_stands(redis_client) -> None:
    from workers.attempt import Attempt, LeaseKeeper

    keeper = LeaseKeeper(redis_client)
    task_id = new_id()
    publisher = StreamPublisher(task_id, "m", client=redis_client)
    publisher.emit("start", {"attempt": 1})
    publisher.emit("chunk", {"text": "half"})
    publisher.wait_written()
    begun = keeper.acquire(task_id)
    assert isinstance(begun, Attempt) and begun.number == 1
    assert begun.last_event is not None
    assert (begun.last_event["seq"], begun.last_event["data"]) == (1, {"text": "half"})


def test_a_release_sent_with_the_relay_lands_after_the_events_before_it(redis_client) -> None:
    from fleet.streaming.relay import get_relay
    from workers.attempt import LeaseKeeper, lease_key

    keeper = LeaseKeeper(redis_client)
    task_id = new_id()
    keeper.acquire(task_id)
    publisher = StreamPublisher(task_id, "m", client=redis_client)
    relay = get_relay(redis_client)
    with SlowRelay(relay, delay=0.3):
        publisher.emit("start", {})
        publisher._emit("chunk", {"text": "x"}, wait=False)
        keeper.release(task_id)
        assert redis_client.exists(lease_key(task_id))  # still held while its events wait
        assert relay.drain(5.0)
    assert not redis_client.exists(lease_key(task_id))
    assert [e["seq"] for e in read_log(redis_client, task_id)] == [0, 1]


def test_a_silent_stream_times_out_in_both_subscribers(redis_client) -> None:
    task_id = f"silent-{uuid.uuid4().hex}"
    with pytest.raises(TimeoutError, match=task_id):
        list(subscribe(task_id, timeout=1.2, client=redis_client))

    async def follow() -> None:
        async for _ in asubscribe(task_id, timeout=1.2):
            pass

    with pytest.raises(TimeoutError, match=task_id):
        asyncio.run(follow())


def test_a_command_redis_refuses_is_dropped_and_the_relay_goes_on(redis_client, caplog) -> None:
    from fleet.streaming.relay import get_relay

    relay = get_relay(redis_client)
    task_id, key = new_id(), f"not-a-counter-{new_id()}"
    redis_client.set(key, "text")
    relay.send_later("INCR", key)  # WRONGTYPE-like refusal: retrying would never succeed
    relay.send_later("SET", f"{key}:after", "1")
    assert relay.drain(5.0)
    pub = StreamPublisher(task_id, "m", redis_client)
    pub.emit("complete")
    assert redis_client.get(f"{key}:after") == b"1"
    assert [e["type"] for e in read_log(redis_client, task_id)] == ["complete"]
    assert "INCR refused" in caplog.text


def test_a_command_with_an_argument_redis_cannot_take_fails_its_sender(redis_client) -> None:
    from fleet.streaming.relay import get_relay

    relay = get_relay(redis_client)
    for command in [("SET", "k", None), ("SET", "k", True), ("SET", "k", 1.5), ()]:
        with pytest.raises(TypeError, match="str and int"):
            relay.send_later(*command)  # type: ignore[arg-type]
    task_id = new_id()
    StreamPublisher(task_id, "m", redis_client).emit("complete")  # the relay is unharmed
    assert [e["type"] for e in read_log(redis_client, task_id)] == ["complete"]
