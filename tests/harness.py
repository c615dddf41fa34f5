"""Helpers for tests and benchmarks that run the fleet for real: an isolated Redis logical
database and PostgreSQL database, ``celery worker`` subprocesses, and a result wait that
cannot miss a result."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from celery.exceptions import TimeoutError as ResultTimeout
from celery.result import AsyncResult

ROOT = Path(__file__).resolve().parent.parent
CLAIM_KEY = "fleet:test:claimed"


def claim_redis_db(host: str = "127.0.0.1", port: int = 6379, owner: str | None = None) -> int:
    """A Redis logical database (15 down to 1) no other run is using, claimed for an hour."""
    owner = owner or uuid.uuid4().hex
    for db in range(15, 0, -1):
        if redis.Redis(host=host, port=port, db=db).set(CLAIM_KEY, owner, nx=True, ex=3600):
            return db
    raise RuntimeError("no free Redis database (1-15)")


def repoint_fleet(redis_url: str) -> None:
    """Make this process's fleet follow the environment as it is now: new Services (closing
    the old one's pool), and the Celery app, when already imported, on ``redis_url``."""
    from fleet.services import set_services

    previous = set_services(None)
    if previous is not None:
        previous.close()
    app_module = sys.modules.get("fleet.app")
    if app_module is not None:
        app_module.app.conf.update(broker_url=redis_url, result_backend=redis_url)


def wait_redis(predicate: Any, what: str, timeout: float = 30, log: Path | None = None) -> None:
    """Poll ``predicate`` (a Redis error counts as not yet) until true, or fail naming
    ``what`` (with the tail of ``log``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}" + (
            f":\n{log.read_text()[-3000:]}" if log is not None else "")
        time.sleep(0.2)


def wait_result(result: AsyncResult, timeout: float = 30.0, propagate: bool = True) -> Any:
    """``result.get()`` that looks at the stored result again every second.

    Celery's Redis backend hears of a result by pub/sub: it sends SUBSCRIBE without waiting
    for Redis to confirm it, then reads the stored result on another connection. Redis may
    run that read first; a result stored and announced between the two is then never heard
    of and ``get()`` waits for its whole timeout (seen as rare hangs of a benchmark run).
    Each ``get()`` reads the stored result first, so repeating it bounds the delay."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return result.get(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)),
                              propagate=propagate)
        except ResultTimeout:
            if time.monotonic() >= deadline:
                raise


class WorkerProcess:
    """A real ``celery worker`` subprocess; ``stop()`` ends it (``kill()`` without mercy)."""

    def __init__(self, queues: list[str], name: str, env: dict[str, str] | None = None,
                 pool: str = "threads", concurrency: int = 8, run_id: str = "",
                 tree: Path = ROOT, app: str = "fleet.app") -> None:
        """``tree``: the code the worker runs (another revision's files, for an A/B);
        ``app``: the Celery app (a benchmark's baseline)."""
        self.name = f"{name}-{run_id}" if run_id else name
        # One file per process: a test that starts the same worker twice keeps both logs.
        unique = f"{self.name}-{uuid.uuid4().hex[:6]}"
        self.log_path = Path(tempfile.gettempdir()) / f"fleet-{unique}.log"
        cmd = [sys.executable, "-m", "celery", "-A", app, "worker",
               "-Q", ",".join(queues), "-P", pool, "-c", str(concurrency),
               "-n", f"{self.name}@%h", "--loglevel=INFO", "--without-mingle",
               "--without-gossip"]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=tree, env={**os.environ, **(env or {})},
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


class ThrowawayPostgres:
    """A PostgreSQL cluster of its own (initdb into a temporary folder, trust auth, loopback
    only), for tests that stop and start the database under traffic."""

    def __init__(self, port: int) -> None:
        import glob
        import shutil

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        self.bin = Path(bins[-1]) if bins else Path(shutil.which("pg_ctl") or "pg_ctl").parent
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
        self.data = self.dir / "data"
        self._as_owner = os.geteuid() == 0  # PostgreSQL refuses to run as root
        if self._as_owner:
            subprocess.run(["chown", "-R", "postgres", str(self.dir)], check=True)
        self._run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres",
                  "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/fleet"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self._as_owner:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                  "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        import shutil

        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayRedis:
    """A redis-server of its own with an append-only file, for tests that restart Redis."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.dir), "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGTERM shuts down like SHUTDOWN (the append-only file is synced) and returns at
            # once; redis-py's shutdown() retries the closed connection for ~10 s first.
            self.proc.terminate()
            self.proc.wait(10)

    def destroy(self) -> None:
        import shutil

        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SlowRelay:
    """Wraps the relay's writer so every batch takes a while: a slow path to Redis."""

    def __init__(self, relay: Any, delay: float) -> None:
        self.relay, self.delay, self.original = relay, delay, relay._write

    def __enter__(self) -> SlowRelay:
        import time

        def slow(batch: Any) -> Any:
            time.sleep(self.delay)
            return self.original(batch)

        self.relay._write = slow
        return self

    def __exit__(self, *_: object) -> None:
        self.relay._write = self.original
