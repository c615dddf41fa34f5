"""CircuitBreaker: per-model breakers shared by every worker through Redis.

Closed: calls flow and failures are counted (in a window of ten cooldowns). After
``failure_threshold`` of them the breaker opens for ``cooldown_ms``: the router skips the model
and workers do not call it. Once the cooldown has passed it is half-open: one worker at a time
gets to probe (a Redis lock); a success closes it and clears the count, a failure re-opens it.
Transitions run in one Lua script (``breaker.lua``). The healthy path costs no Redis call: the
state is read from a snapshot refreshed every 0.5 s, and a success is written only by a process
that has seen the model fail.
"""

from __future__ import annotations

import logging
from typing import cast

import redis
from redis.commands.core import Script

from fleet.backends import keys
from fleet.backends.snapshot import RedisHashSnapshot
from fleet.config import ModelConfig

log = logging.getLogger("fleet.breaker")



def _now_ms(client: redis.Redis) -> int:
    seconds, micros = cast(tuple[int, int], client.time())
    return int(seconds) * 1000 + int(micros) // 1000


class CircuitBreaker:
    def __init__(self, client: redis.Redis, script: Script, failure_threshold: int = 5,
                 cooldown_ms: int = 30_000) -> None:
        """``script``: breaker.lua, registered on ``client``."""
        self.client = client
        self.failure_threshold = failure_threshold
        self.cooldown_ms = cooldown_ms
        self._snapshot = RedisHashSnapshot(keys.BREAKERS, client)
        self._troubled: set[str] = set()  # models this process has seen fail
        self._script = script

    def is_available(self, model: ModelConfig) -> bool:
        """For the router (cached view): False while the breaker is open and cooling down."""
        open_until = self._snapshot.get_all().get(model.name)
        if open_until is None:
            return True
        return int(open_until) <= _now_ms(self.client)

    def allow(self, model: ModelConfig) -> bool:
        """For a worker about to call the model: closed → yes; open → no; half-open → only the
        one worker holding the probe lock."""
        if model.name not in self._snapshot.get_all() and model.name not in self._troubled:
            return True
        open_until = cast(bytes | None, self.client.hget(keys.BREAKERS, model.name))
        if open_until is None:
            return True
        if int(open_until) > _now_ms(self.client):
            return False
        return bool(self.client.set(keys.breaker_probe(model.name), "1", nx=True,
                                    px=self.cooldown_ms))

    def record(self, model: ModelConfig, ok: bool) -> None:
        if ok and model.name not in self._troubled \
                and model.name not in self._snapshot.get_all():
            return  # nothing to reset: keep the healthy path free of Redis calls
        if ok:
            self._troubled.discard(model.name)
        else:
            self._troubled.add(model.name)
        opened = self._script(keys=[keys.BREAKERS, keys.breaker_failures(model.name)],
                              args=[model.name, "success" if ok else "failure",
                                    self.failure_threshold, self.cooldown_ms],
                              client=self.client)
        if ok:
            self.client.delete(keys.breaker_probe(model.name))
        elif opened:
            log.warning("circuit for %s opened for %d ms", model.name, self.cooldown_ms)
        self._snapshot.invalidate()

    def state(self, model: ModelConfig) -> str:
        open_until = cast(bytes | None, self.client.hget(keys.BREAKERS, model.name))
        if open_until is None:
            return "closed"
        return "open" if int(open_until) > _now_ms(self.client) else "half-open"
