"""Stream protocol against real Redis: ordering, replay, idempotent publish, late subscribers."""

from __future__ import annotations

import threading
import uuid

from fleet.relay import StreamPublisher
from fleet.stream import read_log, subscribe


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
