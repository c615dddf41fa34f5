"""Attempts and their leases against real Redis: one live attempt, numbered, knowing where
its stream stands."""

from __future__ import annotations

import uuid

import pytest

from fleet.backends import keys
from fleet.streaming.relay import StreamPublisher
from fleet.streaming.subscribe import read_log
from tests.harness import SlowRelay
from workers.attempt import Attempt, LeaseBusy, LeaseKeeper


def new_id() -> str:
    return f"s-{uuid.uuid4().hex}"


def test_a_second_attempt_in_the_same_process_must_wait_for_the_lease(fleet) -> None:
    relay = fleet.relay
    keeper = LeaseKeeper(relay, fleet.scripts["lease"], lease_ms=5000)
    task_id = new_id()
    assert keeper.acquire(task_id) == Attempt(1, None)
    with pytest.raises(LeaseBusy) as busy:  # a duplicate delivery to this same worker
        keeper.acquire(task_id)
    assert 0 < busy.value.wait_ms <= 5000
    keeper.release(task_id)
    assert relay.drain(5.0)  # the release rides with the relay
    assert keeper.acquire(task_id) == Attempt(2, None)  # only an attempt that ran is counted
    keeper.release(task_id)


def test_an_attempt_starts_where_the_stream_stands(fleet) -> None:
    relay = fleet.relay
    keeper = LeaseKeeper(relay, fleet.scripts["lease"])
    task_id = new_id()
    publisher = StreamPublisher(task_id, "m", relay)
    publisher.emit("start", {"attempt": 1})
    publisher.emit("chunk", {"text": "half"})
    publisher.wait_written()
    begun = keeper.acquire(task_id)
    assert begun.number == 1
    assert begun.last_event is not None
    assert (begun.last_event["seq"], begun.last_event["data"]) == (1, {"text": "half"})


def test_a_release_sent_with_the_relay_lands_after_the_events_before_it(redis_client,
                                                                        fleet) -> None:
    relay = fleet.relay
    keeper = LeaseKeeper(relay, fleet.scripts["lease"])
    task_id = new_id()
    keeper.acquire(task_id)
    publisher = StreamPublisher(task_id, "m", relay)
    with SlowRelay(relay, delay=0.3):
        publisher.emit("start", {})
        publisher._emit("chunk", {"text": "x"}, wait=False)
        keeper.release(task_id)
        assert redis_client.exists(keys.lease(task_id))  # still held while its events wait
        assert relay.drain(5.0)
    assert not redis_client.exists(keys.lease(task_id))
    assert [e["seq"] for e in read_log(redis_client, task_id)] == [0, 1]
