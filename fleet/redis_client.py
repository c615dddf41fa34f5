"""Redis clients: one thread-safe connection pool per URL per process."""

from __future__ import annotations

import threading

import redis

from fleet.config import get_settings

_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def get_redis(url: str | None = None) -> redis.Redis:
    url = url or get_settings().fleet_redis_url
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(url, health_check_interval=30,
                                          socket_keepalive=True, retry_on_timeout=True)
            _clients[url] = client
        return client
