"""Execution leases: at most one live attempt of a task anywhere in the fleet.

A worker takes the task's lease before running it (the same round trip numbers the attempt and
reads where the task's stream stands) and a keeper thread renews every lease the
process holds (every third of the lease time) until the attempt ends. A worker killed with
``kill -9`` stops renewing, so its lease lapses within ``LEASE_MS`` and the redelivered message
can take over; a message redelivered while the first attempt is still alive (a visibility
timeout shorter than the task) finds the lease taken and is retried later, never run twice at
once.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from fleet.outbox import DUE_KEY, OUTBOX_KEY
from fleet.redis_client import get_redis
from fleet.relay import get_relay
from fleet.stream import log_name

log = logging.getLogger("fleet.lease")

LEASE_MS = 10_000
ATTEMPT_TTL_SECONDS = 24 * 3600
_LUA = (Path(__file__).parent / "lease.lua").read_text()


def lease_key(task_id: str) -> str:
    return f"fleet:lease:{task_id}"


def attempt_key(task_id: str) -> str:
    return f"fleet:attempt:{task_id}"


@dataclass(frozen=True)
class Attempt:
    """A delivery that took its task's lease: its number among the task's attempts, and the
    last event its stream logged so far (None: a new stream)."""

    number: int
    last_event: dict[str, Any] | None


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

    def acquire(self, task_id: str) -> Attempt | int:
        """The attempt this delivery starts when it now holds the lease (one round trip takes
        it, counts the attempt and reads where the task's stream stands), else the ms until
        the holder's lease may lapse. Either way the task's message has reached a worker: it
        leaves the outbox.

        The holder is the attempt, not the process: a duplicate delivery to the same worker
        must wait like any other."""
        token = f"{os.getpid()}-{uuid.uuid4().hex}"
        reply = self._script(
            keys=[lease_key(task_id), OUTBOX_KEY, DUE_KEY, attempt_key(task_id),
                  log_name(task_id)],
            args=["acquire", token, self.lease_ms, task_id, ATTEMPT_TTL_SECONDS])
        if len(reply) == 1:
            return int(reply[0])
        with self._lock:
            self._held[task_id] = token
        return Attempt(int(reply[1]), json.loads(reply[2]) if reply[2] else None)

    def release(self, task_id: str) -> None:
        """Give up this process's lease of ``task_id``. The release rides with the stream
        relay's next write, after the events the attempt emitted (the task does not wait a
        round trip for it); an attempt that cannot release its lease lets it lapse."""
        with self._lock:
            token = self._held.pop(task_id, None)
        if token is not None:
            # The script is loaded: this attempt's acquire ran it (a Redis restarted since has
            # lost the lease too).
            get_relay(self.client).send_later("EVALSHA", self._script.sha, 1,
                                              lease_key(task_id), "release", token, 0)

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
