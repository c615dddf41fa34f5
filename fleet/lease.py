"""Execution leases: at most one live attempt of a task anywhere in the fleet.

A worker takes the task's lease before running it and a keeper thread renews every lease the
process holds (every third of the lease time) until the attempt ends. A worker killed with
``kill -9`` stops renewing, so its lease lapses within ``LEASE_MS`` and the redelivered message
can take over; a message redelivered while the first attempt is still alive (a visibility
timeout shorter than the task) finds the lease taken and is retried later, never run twice at
once.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from pathlib import Path

import redis

from fleet.outbox import DUE_KEY, OUTBOX_KEY
from fleet.redis_client import get_redis

log = logging.getLogger("fleet.lease")

LEASE_MS = 10_000
_LUA = (Path(__file__).parent / "lease.lua").read_text()


def lease_key(task_id: str) -> str:
    return f"fleet:lease:{task_id}"


class LeaseKeeper:
    def __init__(self, client: redis.Redis | None = None, lease_ms: int = LEASE_MS) -> None:
        self.client = client or get_redis()
        self.lease_ms = lease_ms
        self._script = self.client.register_script(_LUA)
        self._held: dict[str, str] = {}  # task id -> this attempt's token
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._renew_forever, name="fleet-lease-keeper",
                         daemon=True).start()

    def acquire(self, task_id: str) -> int:
        """1 when this attempt now holds the lease, else the ms until it may lapse. Either way
        the task's message has reached a worker: it leaves the outbox.

        The holder is the attempt, not the process: a duplicate delivery to the same worker
        must wait like any other."""
        token = f"{os.getpid()}-{uuid.uuid4().hex}"
        result = int(self._script(keys=[lease_key(task_id), OUTBOX_KEY, DUE_KEY],
                                  args=["acquire", token, self.lease_ms, task_id]))
        if result == 1:
            with self._lock:
                self._held[task_id] = token
            return 1
        return -result

    def release(self, task_id: str) -> None:
        with self._lock:
            token = self._held.pop(task_id, None)
        if token is None:
            return
        try:
            self._script(keys=[lease_key(task_id)], args=["release", token, 0])
        except redis.RedisError as exc:  # it lapses by itself
            log.warning("could not release lease of %s: %s", task_id, exc)

    def _renew_forever(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            with self._lock:
                held = list(self._held.items())
            if not held:
                continue
            try:
                pipe = self.client.pipeline(transaction=False)
                for task_id, token in held:
                    self._script(keys=[lease_key(task_id)],
                                 args=["renew", token, self.lease_ms], client=pipe)
                pipe.execute()
            except redis.RedisError as exc:
                log.warning("lease renewal failed: %s", exc)
