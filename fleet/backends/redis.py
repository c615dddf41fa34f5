"""Redis clients that ride out a restart, and the wait for a Redis that stayed away too long.

Every command is retried on connection errors with exponential backoff for about half a
minute (``FLEET_REDIS_RETRIES``), so a Redis restart (or failover) pauses the fleet instead of
failing its tasks; pub/sub subscriptions are re-established by the same mechanism. A task
that loses Redis for longer than that waits for it with :func:`wait_for_redis` and is retried.
The process's client is :attr:`fleet.services.Services.redis`.
"""

from __future__ import annotations

import time

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# What a command raises once Redis has been unreachable for longer than the client retries.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)


def connect(url: str, retries: int) -> redis.Redis:
    """A thread-safe client (its own connection pool) that retries through a reconnect."""
    return redis.Redis.from_url(
        url, health_check_interval=30, socket_keepalive=True, socket_connect_timeout=5,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
        # OSError: a refused or reset connect. redis-py opens a fresh connection outside its
        # command retry and, without this, fails at once while Redis is down instead of
        # waiting for it.
        retry_on_error=[redis.ConnectionError, redis.TimeoutError, OSError])


def wait_for_redis(deadline: float, client: redis.Redis) -> bool:
    """Block until Redis answers (True) or ``time.monotonic()`` passes ``deadline`` (False)."""
    while True:
        try:
            client.ping()  # itself retried for the client's whole retry window
            return True
        except REDIS_DOWN:
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
