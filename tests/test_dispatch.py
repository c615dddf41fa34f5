"""fleet.dispatch in process: giving up when Redis stays away past the task's deadline. The
outage it waits out and retries through, with real worker processes, is
tests/faults/test_dispatch_outage.py."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from fleet import dispatch


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
