"""Helpers for tests and benchmarks that run the fleet for real: an isolated Redis logical
database and PostgreSQL database, and ``celery worker`` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
CLAIM_KEY = "fleet:test:claimed"


def claim_redis_db(host: str = "127.0.0.1", port: int = 6379, owner: str | None = None) -> int:
    """A Redis logical database (15 down to 1) no other run is using, claimed for an hour."""
    owner = owner or uuid.uuid4().hex
    for db in range(15, 0, -1):
        if redis.Redis(host=host, port=port, db=db).set(CLAIM_KEY, owner, nx=True, ex=3600):
            return db
    raise RuntimeError("no free Redis database (1-15)")


class WorkerProcess:
    """A real ``celery worker`` subprocess; ``stop()`` ends it (``kill()`` without mercy)."""

    def __init__(self, queues: list[str], name: str, env: dict[str, str] | None = None,
                 pool: str = "threads", concurrency: int = 8, run_id: str = "") -> None:
        self.name = f"{name}-{run_id}" if run_id else name
        self.log_path = Path(tempfile.gettempdir()) / f"fleet-{self.name}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "fleet.app", "worker",
               "-Q", ",".join(queues), "-P", pool, "-c", str(concurrency),
               "-n", f"{self.name}@%h", "--loglevel=INFO", "--without-mingle",
               "--without-gossip"]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
