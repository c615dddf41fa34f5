"""The fleet's Redis client waits out a Redis restart instead of failing the command."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from fleet.backends.redis import connect, wait_for_redis

pytestmark = pytest.mark.integration


def test_a_command_sent_while_redis_is_down_runs_when_it_is_back(own_redis) -> None:
    client = connect(own_redis.url, retries=20)  # the default FLEET_REDIS_RETRIES
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


def test_the_retry_budget_is_a_setting(own_redis, monkeypatch) -> None:
    """``FLEET_REDIS_RETRIES`` bounds how long a command waits for Redis before it fails."""
    from fleet.services import Services

    monkeypatch.setenv("FLEET_REDIS_URL", own_redis.url)
    monkeypatch.setenv("FLEET_REDIS_RETRIES", "0")
    client = Services().redis  # a process's client, from its settings
    client.ping()
    own_redis.stop()
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        client.get("anything")
    assert time.monotonic() - started < 2  # no backoff: the first refusal is the answer


def test_wait_for_redis_returns_when_it_is_back_or_at_the_deadline(own_redis) -> None:
    client = redis.Redis.from_url(own_redis.url)  # no retries of its own: each ping fails fast
    own_redis.stop()
    started = time.monotonic()
    assert not wait_for_redis(started + 1.5, client)
    assert 1.5 <= time.monotonic() - started < 3.0
    restart = threading.Timer(2.0, own_redis.start)
    restart.start()
    try:
        assert wait_for_redis(time.monotonic() + 30, client)
    finally:
        restart.join()
    assert client.ping()
