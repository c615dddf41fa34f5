"""Fixtures: the migrated test database, a clean Redis db, real worker processes, a Redis of
a test's own, and HTTP servers (gateway, Flower) as processes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from fleet.dispatch.outbox import DUE_KEY, OUTBOX_KEY
from tests import harness as testing
from tests.conftest import DATABASE_URL, REDIS_URL, RUN_ID

ROOT = testing.ROOT
MODEL_QUEUES = ["model.claude-haiku-4", "model.claude-sonnet-4.5", "model.claude-opus-4"]


@pytest.fixture(scope="session", autouse=True)
def _isolated_services() -> Iterator[None]:
    from fleet.backends import postgres as db
    from fleet.backends.migrate import migrate

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


@pytest.fixture(autouse=True)
def _no_outbox_carry_over(redis_client: redis.Redis) -> Iterator[None]:
    """A task a test enqueued but never ran must not come back in a later test, sent again by
    the workers' outbox sweep (fleet/outbox.py)."""
    yield
    redis_client.delete(OUTBOX_KEY, DUE_KEY)


@pytest.fixture
def pg() -> Iterator[object]:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        yield conn


class WorkerProcess(testing.WorkerProcess):
    def __init__(self, queues: list[str], name: str, env: dict[str, str] | None = None,
                 pool: str = "threads", concurrency: int = 8) -> None:
        super().__init__(queues, name, env, pool, concurrency, run_id=RUN_ID)


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


def _throwaway_redis() -> Iterator[testing.ThrowawayRedis]:
    server = testing.ThrowawayRedis(testing.free_port())
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def own_redis() -> Iterator[testing.ThrowawayRedis]:
    """A redis-server of the test's own (append-only file), to stop and start."""
    yield from _throwaway_redis()


@pytest.fixture
def own_broker() -> Iterator[testing.ThrowawayRedis]:
    """A second one, for a broker that stays up while the fleet's state Redis goes away."""
    yield from _throwaway_redis()


@contextlib.contextmanager
def http_process(args: list[str], name: str, health: str, env: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None
                 ) -> Iterator[tuple[httpx.Client, Path]]:
    """``python -m <args> --port P`` on a free port, once ``health`` answers 200; yields a
    client for it and its log."""
    port = testing.free_port()
    log_path = Path(tempfile.gettempdir()) / f"fleet-{name}-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", *args, f"--port={port}"], cwd=ROOT,
                                env={**os.environ, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=headers)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log_path.read_text(errors="replace")[-3000:]
            try:
                if client.get(health).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.1)
        yield client, log_path
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def assert_ran_once(task_id: str, redis_client: redis.Redis, pg: Any) -> None:
    """The task ran once and completed: one ``start`` event, one cost row (attempt 1), and no
    copy of its message left in the outbox."""
    log = [json.loads(f[b"e"]) for _, f in redis_client.xrange(f"fleet:log:{task_id}")]
    assert [e["type"] for e in log].count("start") == 1, task_id
    assert log[-1]["type"] == "complete"
    rows = pg.execute("SELECT attempt FROM cost_entries WHERE task_id = %s",
                      (task_id,)).fetchall()
    assert [r[0] for r in rows] == [1]
    # A copy that reached the worker while the task ran waits for it by a retry, kept in the
    # outbox until the retry is taken (and acknowledged: the task has finished).
    deadline = time.monotonic() + 30
    while redis_client.hget(OUTBOX_KEY, task_id) is not None:
        assert time.monotonic() < deadline, f"{task_id} left a copy in the outbox"
        time.sleep(0.2)
