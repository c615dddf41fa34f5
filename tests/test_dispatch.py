"""fleet.dispatch in process: what it does when Redis goes away for longer than the client's
retries (the real-process outage is in tests/faults/test_redis_restart.py)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from fleet import dispatch


class Chosen:
    """What route() returns, as far as the task uses it."""

    def model_dump(self, **_: Any) -> dict[str, int]:
        return {"ok": 1}


def test_a_dispatch_that_loses_redis_waits_for_it_and_is_retried(monkeypatch) -> None:
    # route() loses Redis once; the real wait_for_redis finds the test Redis answering.
    calls: list[str] = []

    def route(task: Any) -> Any:
        calls.append(task.id)
        if len(calls) == 1:
            raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")
        return Chosen()

    monkeypatch.setattr(dispatch, "route", route)
    result = dispatch.dispatch.apply(kwargs={"task": {"id": "t-1", "type": "general",
                                                      "description": "x"}})
    assert result.get() == {"ok": 1}
    assert calls == ["t-1", "t-1"]  # routed again once Redis answered


def test_a_dispatch_fails_when_redis_does_not_come_back(monkeypatch) -> None:
    def route(task: Any) -> Any:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    monkeypatch.setattr(dispatch, "route", route)
    # Redis not back by the task's deadline (wait_for_redis itself: tests/faults).
    monkeypatch.setattr(dispatch, "wait_for_redis", lambda deadline: False)
    result = dispatch.dispatch.apply(kwargs={"task": {"id": "t-2", "type": "general",
                                                      "description": "x"}})
    with pytest.raises(redis.ConnectionError):
        result.get()
