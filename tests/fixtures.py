"""Fixtures: the migrated test database, a clean Redis db, and real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import DATABASE_URL, REDIS_URL, RUN_ID

ROOT = Path(__file__).resolve().parent.parent
MODEL_QUEUES = ["model.claude-haiku-4", "model.claude-sonnet-4.5", "model.claude-opus-4"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_services() -> Iterator[None]:
    from fleet import db
    from fleet.migrate import migrate

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.set("fleet:test:claimed", RUN_ID, ex=3600)
    migrate(DATABASE_URL)
    yield
    db.close_pools()
    db.drop_database(DATABASE_URL)
    client.flushdb()


@pytest.fixture
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture
def pg() -> Iterator[object]:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        yield conn


class WorkerProcess:
    """A real ``celery worker`` subprocess, stopped (or killed) by the test."""

    def __init__(self, queues: list[str], name: str, env: dict[str, str] | None = None,
                 pool: str = "threads", concurrency: int = 8) -> None:
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"fleet-{RUN_ID}-{name}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "fleet.app", "worker",
               "-Q", ",".join(queues), "-P", pool, "-c", str(concurrency),
               "-n", f"{name}-{RUN_ID}@%h", "--loglevel=INFO", "--without-mingle",
               "--without-gossip"]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})},
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

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

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerProcess]:
    """One worker consuming dispatch, every model queue and beat."""
    proc = WorkerProcess(["fleet.dispatch", *MODEL_QUEUES, "fleet.beat"], "all")
    yield proc
    proc.stop()


@pytest.fixture
def bare_client() -> object:
    """A plain Celery client with no fleet import: how another service enqueues."""
    from celery import Celery

    client = Celery("other-service", broker=REDIS_URL, backend=REDIS_URL)
    client.conf.update(task_serializer="json", accept_content=["json"],
                       result_accept_content=["json"])
    return client
