"""Which model queues have workers: each worker announces the model queues it consumes in the
Redis hash ``fleet:consumers`` (queue -> until when, epoch ms) and renews it while it lives;
routers and ``fleet models list`` read it through a 0.5 s snapshot (no round trip per task)."""

from __future__ import annotations

import logging
import threading
import time

import redis

from fleet.backends import keys
from fleet.backends.snapshot import RedisHashSnapshot
from fleet.config import ModelConfig
from fleet.contracts import queue_for

log = logging.getLogger("fleet.consumers")

HEARTBEAT_SECONDS = 10.0
# A worker that stops renewing (killed) stops counting after this long.
LAPSE_SECONDS = 3 * HEARTBEAT_SECONDS


class QueueConsumers:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._snapshot = RedisHashSnapshot(keys.CONSUMERS, client)

    def serves(self, model: ModelConfig) -> bool:
        """Whether a live worker consumes ``model``'s queue."""
        until = self._snapshot.get_all().get(queue_for(model.name))
        return until is not None and int(until) > time.time() * 1000

    def announce(self, queues: list[str]) -> None:
        """This worker consumes ``queues`` for the next LAPSE_SECONDS."""
        if queues:
            until = int((time.time() + LAPSE_SECONDS) * 1000)
            self.client.hset(keys.CONSUMERS, mapping=dict.fromkeys(queues, until))

    def keep_announcing(self, queues: list[str]) -> threading.Thread:
        """Announce ``queues`` now and every HEARTBEAT_SECONDS from a daemon thread."""
        def run() -> None:
            while True:
                try:
                    self.announce(queues)
                except redis.RedisError as exc:  # Redis away: the next beat tries again
                    log.warning("could not announce the consumed queues: %s", exc)
                time.sleep(HEARTBEAT_SECONDS)

        thread = threading.Thread(target=run, name="fleet-queue-heartbeat", daemon=True)
        thread.start()
        return thread
