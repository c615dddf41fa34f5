"""BatchWriter: shared transactions for many threads' rows."""

from __future__ import annotations

import threading
import time

import pytest

from fleet.backends.batch_writer import BatchWriter


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.fail = fail
        self.seen: set[int] = set()

    def write(self, items: list[int]) -> list[int]:
        if self.fail:
            raise ConnectionError("database down")
        self.batches.append(list(items))
        new = [i for i in items if i not in self.seen]
        self.seen.update(items)
        return new


def test_each_caller_gets_its_own_new_items() -> None:
    recorder = Recorder()
    writer = BatchWriter("test-writer", recorder.write)
    assert writer.write([1, 2]) == [1, 2]
    assert writer.write([2, 3]) == [3]  # 2 was already written: not new


def test_a_flush_with_nothing_queued_writes_nothing() -> None:
    recorder = Recorder()
    writer = BatchWriter("test-writer", recorder.write)
    writer.flush(timeout=5)
    assert recorder.batches == []


def test_concurrent_callers_share_batches() -> None:
    gate = threading.Event()
    recorder = Recorder()

    def slow_write(items: list[int]) -> list[int]:
        gate.wait(5)
        return recorder.write(items)

    writer = BatchWriter("test-writer", slow_write)
    results: dict[int, list[int]] = {}
    threads = [threading.Thread(target=lambda i=i: results.update({i: writer.write([i])}))
               for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # the first batch is stuck in slow_write; the others queue behind it
    gate.set()
    for t in threads:
        t.join(5)
    assert results == {i: [i] for i in range(20)}
    assert len(recorder.batches) < 20
    assert sorted(i for b in recorder.batches for i in b) == list(range(20))


def test_lingering_items_are_written_together() -> None:
    recorder = Recorder()
    writer = BatchWriter("test-writer", recorder.write, linger_s=0.3)
    for i in range(5):
        writer.write_later([i])
        time.sleep(0.01)
    writer.flush(timeout=5)
    assert recorder.batches == [[0, 1, 2, 3, 4]]


def test_a_waiting_caller_ends_the_linger() -> None:
    recorder = Recorder()
    writer = BatchWriter("test-writer", recorder.write, linger_s=30)
    writer.write_later([1])
    started = time.monotonic()
    assert writer.write([2], timeout=5) == [2]
    assert time.monotonic() - started < 5
    assert recorder.batches == [[1, 2]]


def test_a_full_batch_ends_the_linger() -> None:
    recorder = Recorder()
    writer = BatchWriter("test-writer", recorder.write, max_items=3, linger_s=30)
    writer.write_later([1, 2, 3])
    deadline = time.monotonic() + 5
    while not recorder.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.batches == [[1, 2, 3]]


def test_a_failed_batch_reaches_waiters_and_the_error_handler() -> None:
    spooled: list[int] = []
    writer = BatchWriter("test-writer", Recorder(fail=True).write,
                         on_error=lambda items, exc: spooled.extend(items), linger_s=30)
    writer.write_later([7, 8])
    with pytest.raises(ConnectionError):
        writer.write([9], timeout=5)
    assert spooled == [7, 8]


def test_a_failed_batch_goes_to_the_error_handler_in_one_call() -> None:
    calls: list[list[int]] = []
    writer = BatchWriter("test-writer", Recorder(fail=True).write,
                         on_error=lambda items, exc: calls.append(list(items)), linger_s=30)
    for i in range(5):
        writer.write_later([i])
    with pytest.raises(ConnectionError):
        writer.flush(timeout=5)
    assert calls == [[0, 1, 2, 3, 4]]
