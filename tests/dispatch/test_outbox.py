"""The outbox: copies of execute messages until a worker takes them, re-sent when overdue."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from fleet.backends import keys
from fleet.dispatch import outbox
from fleet.dispatch.outbox import MAX_REDELIVERIES, Message
from workers.attempt import LeaseKeeper


def _message() -> Message:
    return Message(f"ob-{uuid.uuid4().hex[:8]}", "model.claude-haiku-4", None,
                   {"task": {"id": "x"}}, "{'task': 'x'}")


def test_overdue_messages_are_sent_again_a_bounded_number_of_times(
        monkeypatch: pytest.MonkeyPatch, redis_client: Any) -> None:
    monkeypatch.setenv("FLEET_REDELIVER_AFTER", "10")
    message = _message()
    outbox.remember(redis_client, message, now=1000.0)
    sent: list[Message] = []
    assert outbox.redeliver_due(redis_client, sent.append, now=1009.0) == 0  # not due yet
    for n in range(1, MAX_REDELIVERIES + 1):
        assert outbox.redeliver_due(redis_client, sent.append, now=1000.0 + 10 * n) == 1
        # Not again until its next due time.
        assert outbox.redeliver_due(redis_client, sent.append, now=1005.0 + 10 * n) == 0
    assert [m.redelivered for m in sent] == [1, 2, 3]
    assert {m.kwargs == message.kwargs and m.queue == message.queue for m in sent} == {True}
    # Given up after the last one: dropped, never sent again.
    assert outbox.redeliver_due(redis_client, sent.append, now=2000.0) == 0
    assert redis_client.hget(keys.OUTBOX, message.task_id) is None
    assert redis_client.zscore(keys.OUTBOX_DUE, message.task_id) is None


def test_a_worker_taking_the_task_removes_its_copy(redis_client: Any, fleet: Any) -> None:
    message = _message()
    outbox.remember(redis_client, message)
    keeper = LeaseKeeper(fleet.relay, fleet.scripts["lease"])
    assert keeper.acquire(message.task_id).number == 1
    assert redis_client.hget(keys.OUTBOX, message.task_id) is None
    assert redis_client.zscore(keys.OUTBOX_DUE, message.task_id) is None
    keeper.release(message.task_id)


def test_a_message_that_was_never_sent_is_forgotten(redis_client: Any) -> None:
    message = _message()
    outbox.remember(redis_client, message)
    outbox.forget(redis_client, message.task_id)
    assert redis_client.hget(keys.OUTBOX, message.task_id) is None
    assert redis_client.zscore(keys.OUTBOX_DUE, message.task_id) is None
