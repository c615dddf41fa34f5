"""RedisHashSnapshot: a Redis hash of fleet-wide state, read through a short-lived local copy.

Flags and model registrations change rarely but are read on every task, so each process keeps a
copy of the hash and re-reads it (one HGETALL) at most every ``refresh_seconds``: a change made
anywhere is seen everywhere within that time, without restarts and without a Redis round trip
per task. If Redis is unreachable the last snapshot keeps serving.
"""

from __future__ import annotations

import threading
import time
from typing import cast

import redis

REFRESH_SECONDS = 0.5


class RedisHashSnapshot:
    def __init__(self, key: str, client: redis.Redis,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.key = key
        self.client = client
        self.refresh_seconds = refresh_seconds
        self._data: dict[str, str] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def get_all(self) -> dict[str, str]:
        now = time.monotonic()
        if now - self._loaded_at >= self.refresh_seconds:
            with self._lock:
                if now - self._loaded_at >= self.refresh_seconds:
                    try:
                        raw = cast(dict[bytes, bytes], self.client.hgetall(self.key))
                        self._data = {k.decode(): v.decode() for k, v in raw.items()}
                    except redis.RedisError:
                        pass  # keep serving the last snapshot
                    self._loaded_at = now
        return self._data

    def set(self, field: str, value: str) -> None:
        self.client.hset(self.key, field, value)
        self.invalidate()

    def delete(self, field: str) -> None:
        self.client.hdel(self.key, field)
        self.invalidate()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")
