"""The ``fleet.dispatch`` task in process: giving up when Redis stays away past the task's
deadline, and a task the broker refused. The outage it waits out and retries through, with
real worker processes, is tests/faults/test_dispatch_outage.py."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from fleet.backends import keys
from fleet.dispatch import outbox
from fleet.dispatch import route as dispatch_route
from fleet.dispatch import task as dispatch_task


def test_a_dispatch_fails_when_redis_does_not_come_back(monkeypatch) -> None:
    def route(task: Any) -> Any:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(dispatch_task, "route", route)
    # Redis not back by the task's deadline (wait_for_redis itself: tests/faults).
    monkeypatch.setattr(dispatch_task, "wait_for_redis", lambda deadline, client: False)
    result = dispatch_task.dispatch.apply(kwargs={"task": {"id": "t-2", "type": "general",
                                                           "description": "x"}})
    with pytest.raises(redis.ConnectionError):
        result.get()


def test_a_task_the_broker_refused_leaves_no_copy_or_reservation(monkeypatch,
                                                                 redis_client) -> None:
    def refuse(message: Any) -> None:
        raise OperationalError("Error 111 connecting to the broker")

    monkeypatch.setattr(outbox, "send_execute", refuse)
    with pytest.raises(OperationalError):  # the caller is told, and may send it again
        dispatch_route.submit({"id": "t-refused", "type": "general", "description": "x"})
    # Nothing was enqueued: the outbox must not send it later behind the caller's back.
    assert redis_client.hget(keys.OUTBOX, "t-refused") is None
    assert redis_client.zscore(keys.OUTBOX_DUE, "t-refused") is None
    assert redis_client.hget(keys.BUDGET_RESERVATIONS, "t-refused") is None
