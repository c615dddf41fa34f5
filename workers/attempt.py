"""Attempts: numbered deliveries of a task, at most one live anywhere in the fleet (a lease).

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
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.commands.core import Script

from fleet.backends import keys
from fleet.dispatch.cancel import CANCEL_WINDOW_S
from fleet.dispatch.outbox import forget
from fleet.streaming.relay import StreamRelay

log = logging.getLogger("fleet.lease")

LEASE_MS = 10_000
ATTEMPT_TTL_SECONDS = 24 * 3600
CANCEL_POLL_S = 0.5  # how soon a running attempt learns that its task was cancelled


@dataclass(frozen=True)
class Attempt:
    """A delivery that took its task's lease: its number among the task's attempts, the last
    event its stream logged so far (None: a new stream), and whether the task was cancelled."""

    number: int
    last_event: dict[str, Any] | None
    cancelled: bool = False


class LeaseBusy(Exception):
    """Another attempt of the task holds its lease; it may lapse in ``wait_ms``."""

    def __init__(self, task_id: str, wait_ms: int) -> None:
        super().__init__(f"task {task_id} is running elsewhere; its lease may lapse in "
                         f"{wait_ms} ms")
        self.wait_ms = wait_ms


class LeaseKeeper:
    def __init__(self, relay: StreamRelay, script: Script, lease_ms: int = LEASE_MS) -> None:
        """``script``: lease.lua; releases ride with ``relay`` (on the same Redis)."""
        self.client = relay.client
        self.relay = relay
        self.lease_ms = lease_ms
        self._script = script
        self._held: dict[str, str] = {}  # task id -> this attempt's token
        self._cancelled: set[str] = set()  # held tasks whose cancellation was seen
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._renew_forever, name="fleet-lease-keeper",
                         daemon=True).start()

    def acquire(self, task_id: str) -> Attempt:
        """The attempt this delivery starts now that it holds the lease (one round trip takes
        it, counts the attempt and reads where the task's stream stands); :class:`LeaseBusy`
        while another attempt holds it. Either way the task's message has reached a worker: it
        leaves the outbox.

        The holder is the attempt, not the process: a duplicate delivery to the same worker
        must wait like any other."""
        token = f"{os.getpid()}-{uuid.uuid4().hex}"
        reply = self._script(
            keys=[keys.lease(task_id), keys.attempt_counter(task_id), keys.stream_log(task_id),
                  keys.cancelled(task_id)],
            args=["acquire", token, self.lease_ms, ATTEMPT_TTL_SECONDS])
        # The outbox is fleet-wide (another slot on a cluster than the task's keys, so not in
        # the script); a copy left by a worker killed now is re-sent and finds the lease. Now,
        # not later: a retry's copy that follows must not be dropped by this.
        forget(self.client, task_id)
        if len(reply) == 1:
            raise LeaseBusy(task_id, int(reply[0]))
        # A lease a failover forgot would let a second attempt start (unrenewed, it lapses).
        self.relay.replication.wait([keys.lease(task_id)])
        with self._lock:
            self._held[task_id] = token
        return Attempt(int(reply[1]), json.loads(reply[2]) if reply[2] else None,
                       bool(int(reply[3])))

    def is_cancelled(self, task_id: str) -> bool:
        """Whether ``task_id``, held here, was cancelled (seen within ``CANCEL_POLL_S``)."""
        return task_id in self._cancelled

    def release(self, task_id: str) -> None:
        """Give up this process's lease of ``task_id``. The release rides with the stream
        relay's next write, after the events the attempt emitted (the task does not wait a
        round trip for it); an attempt that cannot release its lease lets it lapse."""
        with self._lock:
            token = self._held.pop(task_id, None)
            self._cancelled.discard(task_id)
        if token is not None:
            # The script is loaded: this attempt's acquire ran it (a Redis restarted since has
            # lost the lease too).
            self.relay.send_later("EVALSHA", self._script.sha, 1, keys.lease(task_id),
                                  "release", token, 0)

    def _renew_forever(self) -> None:
        """Renew every held lease each third of the lease time, and look for cancellations of
        held tasks more often (one command for all of them)."""
        renewed = time.monotonic()
        while not self._stop.wait(min(CANCEL_POLL_S, self.lease_ms / 3000)):
            with self._lock:
                held = list(self._held.items())
            if not held:
                continue
            try:
                self._see_cancellations({task_id for task_id, _ in held})
                if time.monotonic() - renewed >= self.lease_ms / 3000:
                    renewed = time.monotonic()
                    self._renew(held)
            except redis.exceptions.NoScriptError:
                self.client.script_load(self._script.script)  # a new or restarted Redis
            except redis.RedisError as exc:
                log.warning("lease renewal failed: %s", exc)

    def _renew(self, held: list[tuple[str, str]]) -> None:
        # EVALSHA as a plain command: a cluster's pipeline refuses redis-py's evalsha.
        pipe = self.client.pipeline(transaction=False)
        for task_id, token in held:
            pipe.execute_command(  # type: ignore[no-untyped-call]
                "EVALSHA", self._script.sha, 1, keys.lease(task_id), "renew", token,
                self.lease_ms)
        pipe.execute()

    def _see_cancellations(self, held: set[str]) -> None:
        recent = cast(list[bytes | str], self.client.zrangebyscore(
            keys.CANCELLED, time.time() - CANCEL_WINDOW_S, "+inf"))
        cancelled = held.intersection(r.decode() if isinstance(r, bytes) else r for r in recent)
        if cancelled:
            with self._lock:
                self._cancelled |= cancelled & self._held.keys()
