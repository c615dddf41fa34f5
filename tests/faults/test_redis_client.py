"""The fleet's Redis client waits out a Redis restart instead of failing the command."""

from __future__ import annotations

import threading
import time

import pytest

from fleet.redis_client import get_redis

pytestmark = pytest.mark.integration


def test_a_command_sent_while_redis_is_down_runs_when_it_is_back(own_redis) -> None:
    client = get_redis(own_redis.url)
    client.set("kept", "1")  # the pool now holds a connection that the restart breaks
    own_redis.stop()
    restart = threading.Timer(3.0, own_redis.start)
    restart.start()
    started = time.monotonic()
    try:
        # Both paths: a pooled connection that finds its socket closed, and a fresh
        # connection refused at connect (redis-py opens it outside its command retry).
        assert client.incr("counter") == 1
    finally:
        restart.join()
    assert client.get("kept") == b"1"  # the append-only file kept it across the restart
    assert time.monotonic() - started >= 2.5  # it waited for the restart, not failed early
