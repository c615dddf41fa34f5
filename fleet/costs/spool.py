"""Where cost rows wait while PostgreSQL is away: the Redis spool, and this host's disk when
Redis is away too.

The spool is a Redis list (``fleet:costs:spool``) that beat drains into PostgreSQL. A worker
that can neither write a cost row to PostgreSQL nor spool it to Redis appends it to a file of
its own (``<host>-<pid>.jsonl`` under ``FLEET_HOLD_DIR``, fsynced) before the task
goes on, so the row outlives the process. The worker spools the file once Redis answers; a
worker killed first leaves it behind, and the next worker started on the host adopts it
(claimed by an atomic rename, so only one does) and spools its rows. Rows are keyed by
(task, attempt, segment) in PostgreSQL: a row spooled twice is written once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import redis
from pydantic import ValidationError

from fleet.backends import keys
from fleet.contracts import CostEntry
from fleet.metrics import COST_SPOOLED

log = logging.getLogger("fleet.hold")

Spool = Callable[[list[CostEntry]], None]


def spool_rows(client: redis.Redis, entries: list[CostEntry]) -> None:
    """Append rows to the Redis spool (PostgreSQL is away)."""
    client.rpush(keys.COST_SPOOL, *(e.model_dump_json() for e in entries))
    COST_SPOOLED.inc(len(entries))


def drain_spool(client: redis.Redis, insert: Callable[[list[CostEntry]], Sequence[CostEntry]],
                batch: int = 1000) -> int:
    """Hand spooled rows to ``insert`` (PostgreSQL, idempotent) and drop them from the spool;
    returns how many left it. One drainer at a time fleet-wide (LTRIM assumes it)."""
    if not client.set(keys.COST_SPOOL_LOCK, "1", nx=True, ex=300):
        return 0  # another drainer is at it
    moved = 0
    try:
        while True:
            raw = cast(list[bytes], client.lrange(keys.COST_SPOOL, 0, batch - 1))
            if not raw:
                return moved
            insert([CostEntry.model_validate_json(r) for r in raw])
            client.ltrim(keys.COST_SPOOL, len(raw), -1)
            moved += len(raw)
    finally:
        client.delete(keys.COST_SPOOL_LOCK)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class HeldRows:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._host = socket.gethostname()
        self._lock = threading.Lock()
        # A process restarted with its predecessor's pid (pid 1 in a container) finds that
        # predecessor's file as its own: it is spooled like any other held row.
        self._holding = self.path.exists()

    @property
    def path(self) -> Path:  # per process: a forked child holds its rows apart
        return self.directory / f"{self._host}-{os.getpid()}.jsonl"

    @property
    def holding(self) -> bool:
        return self._holding

    def hold(self, entries: list[CostEntry]) -> None:
        lines = "".join(e.model_dump_json() + "\n" for e in entries).encode()
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._holding = True

    def flush(self, spool: Spool) -> int:
        """Spool this process's held rows and forget them; returns how many. ``spool`` raising
        (Redis still away) keeps them."""
        with self._lock:
            if not self._holding:
                return 0
            entries = _read(self.path)
            if entries:
                spool(entries)
            self.path.unlink(missing_ok=True)
            self._holding = False
            return len(entries)

    def adopt(self, spool: Spool) -> int:
        """Spool the rows that dead processes of this host left (a dead adopter's too);
        returns how many."""
        name = re.compile(rf"{re.escape(self._host)}-(\d+)\.jsonl(?:\.adopted-(\d+))?")
        adopted = 0
        for path in sorted(self.directory.glob(f"{self._host}-*")):
            match = name.fullmatch(path.name)
            if match is None:
                continue
            owner = int(match[2] or match[1])
            if owner == os.getpid() or _alive(owner):
                continue
            original = path.with_name(f"{self._host}-{match[1]}.jsonl")
            claimed = original.with_name(f"{original.name}.adopted-{os.getpid()}")
            try:
                path.rename(claimed)  # atomic: of two adopters, one wins
            except FileNotFoundError:
                continue
            try:
                entries = _read(claimed)
                spool(entries)
            except BaseException:
                claimed.rename(original)  # for the next adopter
                raise
            claimed.unlink()
            adopted += len(entries)
            log.warning("spooled %d cost row(s) held by dead process %s", len(entries),
                        match[1])
        return adopted


def _read(path: Path) -> list[CostEntry]:
    entries = []
    with contextlib.suppress(FileNotFoundError), path.open("rb") as lines:
        for line in lines:
            try:
                entries.append(CostEntry.model_validate_json(line))
            except ValidationError:  # the write cut by a kill: its task did not go on
                log.warning("skipping a torn held cost row in %s", path)
    return entries
