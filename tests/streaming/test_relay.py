"""The stream relay against real Redis: coalescing, backpressure, draining, relayed commands."""

from __future__ import annotations

import uuid

import pytest

from fleet.streaming.relay import StreamPublisher
from fleet.streaming.subscribe import read_log
from tests.harness import SlowRelay


def new_id() -> str:
    return f"s-{uuid.uuid4().hex}"


def test_coalescing_sends_far_fewer_chunks_than_deltas(redis_client, relay) -> None:
    from fleet.streaming.chunker import Chunker

    task_id = new_id()
    pub = StreamPublisher(task_id, "m", relay, chunker=Chunker(64, 1000))
    deltas = [f" tok{i}" for i in range(1000)]
    for delta in deltas:
        pub.add_text(delta)
    pub.emit("complete")
    chunks = [e for e in read_log(redis_client, task_id) if e["type"] == "chunk"]
    assert "".join(c["data"]["text"] for c in chunks) == "".join(deltas)
    assert len(chunks) <= len(deltas) / 8  # 64-char chunks of 6-char deltas


def test_slow_redis_throttles_the_producer_and_loses_nothing(redis_client, relay) -> None:
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", relay, buffer_size=10,
                          backpressure_threshold=0.8)
    with SlowRelay(relay, 0.02):
        for i in range(200):
            pub.emit("chunk", {"text": str(i)})
            assert len(pub._pending) <= 8  # never more than the high-water mark in memory
        pub.emit("complete")
    assert pub.backpressure_waits > 0
    assert [e["seq"] for e in read_log(redis_client, task_id)] == list(range(201))


def test_a_stuck_path_raises_stream_001(redis_client, relay) -> None:
    import pytest

    from fleet.errors import BufferOverflow
    pub = StreamPublisher(new_id(), "m", relay, buffer_size=4, timeout_s=0.3)
    with SlowRelay(relay, 1.0), pytest.raises(BufferOverflow) as info:
        for i in range(50):
            pub.emit("chunk", {"text": str(i)})
    assert info.value.code == "STREAM_001"


def test_drain_waits_until_every_handed_event_is_in_redis(redis_client, relay) -> None:
    task_id = new_id()
    pub = StreamPublisher(task_id, "m", relay)
    with SlowRelay(relay, 0.5):
        for i in range(3):
            pub.emit("chunk", {"text": str(i)})
        assert not relay.drain(0.1)  # still being written
        assert relay.drain(5.0)
        assert [e["seq"] for e in read_log(redis_client, task_id)] == [0, 1, 2]


def test_a_command_redis_refuses_is_dropped_and_the_relay_goes_on(redis_client, caplog,
                                                                  relay) -> None:
    task_id, key = new_id(), f"not-a-counter-{new_id()}"
    redis_client.set(key, "text")
    relay.send_later("INCR", key)  # WRONGTYPE-like refusal: retrying would never succeed
    relay.send_later("SET", f"{key}:after", "1")
    assert relay.drain(5.0)
    pub = StreamPublisher(task_id, "m", relay)
    pub.emit("complete")
    assert redis_client.get(f"{key}:after") == b"1"
    assert [e["type"] for e in read_log(redis_client, task_id)] == ["complete"]
    assert "INCR refused" in caplog.text


def test_a_command_with_an_argument_redis_cannot_take_fails_its_sender(redis_client, relay) -> None:
    for command in [("SET", "k", None), ("SET", "k", True), ("SET", "k", 1.5), ()]:
        with pytest.raises(TypeError, match="str and int"):
            relay.send_later(*command)  # type: ignore[arg-type]
    task_id = new_id()
    StreamPublisher(task_id, "m", relay).emit("complete")  # the relay is unharmed
    assert [e["type"] for e in read_log(redis_client, task_id)] == ["complete"]
