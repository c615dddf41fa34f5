"""Redis clients: one thread-safe connection pool per URL per process.

Every command is retried on connection errors with exponential backoff for about half a
minute (``FLEET_REDIS_RETRIES``), so a Redis restart (or failover) pauses the fleet instead of
failing its tasks; pub/sub subscriptions are re-established by the same mechanism.
"""

from __future__ import annotations

import threading

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from fleet.config import get_settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def get_redis(url: str | None = None) -> redis.Redis:
    url = url or get_settings().fleet_redis_url
    with _lock:
        client = _clients.get(url)
        if client is None:
            retries = get_settings().fleet_redis_retries
            client = redis.Redis.from_url(
                url, health_check_interval=30, socket_keepalive=True, socket_connect_timeout=5,
                retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
                # OSError: a refused or reset connect. redis-py opens a fresh connection
                # outside its command retry and, without this, fails at once while Redis
                # is down instead of waiting for it.
                retry_on_error=[redis.ConnectionError, redis.TimeoutError, OSError])
            _clients[url] = client
        return client
