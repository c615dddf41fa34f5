"""Fixtures: the run's isolated Redis and PostgreSQL (``services``), real worker processes, a
Redis of a test's own, and HTTP servers (gateway, Flower) as processes."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from fleet.backends import keys
from fleet.services import Services, get_services, set_services
from fleet.streaming.relay import StreamRelay
from tests import harness
from tests.conftest import PG_BASE, REDIS_HOST, REDIS_PORT, RUN_ID

ROOT = harness.ROOT
MODEL_QUEUES = ["model.claude-haiku-4", "model.claude-sonnet-4.5", "model.claude-opus-4"]


@dataclass(frozen=True)
class FleetEnv:
    """Where this run's fleet keeps its state."""

    redis_url: str
    database_url: str


@pytest.fixture(scope="session")
def services() -> Iterator[FleetEnv]:
    """Claims this run's Redis database and PostgreSQL database and points the fleet (this
    process's Services and Celery app, and every process started after) at them."""
    from fleet.backends.migrate import migrate
    from fleet.backends.postgres import drop_database

    redis_db = harness.claim_redis_db(REDIS_HOST, REDIS_PORT, RUN_ID)
    env = FleetEnv(f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
                   f"{PG_BASE}/fleet_test_{RUN_ID}")
    os.environ.pop("FLEET_REDIS_RETRIES", None)
    os.environ.update({"FLEET_REDIS_URL": env.redis_url, "FLEET_BROKER_URL": env.redis_url,
                       "FLEET_DATABASE_URL": env.database_url})
    harness.repoint_fleet(env.redis_url)
    client = redis.Redis.from_url(env.redis_url)
    client.flushdb()
    client.set(harness.CLAIM_KEY, RUN_ID, ex=3600)
    migrate(env.database_url)
    yield env
    from fleet.dispatch.selections import flush_selections

    flush_selections()  # the last selections go to this database, not to the spool
    previous = set_services(None)
    if previous is not None:
        previous.close()
    drop_database(env.database_url)
    client.flushdb()


@pytest.fixture
def redis_client(services: FleetEnv) -> redis.Redis:
    return redis.Redis.from_url(services.redis_url)


@pytest.fixture
def fleet(services: FleetEnv) -> Services:
    """The process's Services, pointed at this run's Redis and PostgreSQL."""
    return get_services()


@pytest.fixture
def relay(fleet: Services) -> StreamRelay:
    """The process's stream relay, on this run's Redis."""
    return fleet.relay


@pytest.fixture(autouse=True)
def _no_outbox_carry_over(request: pytest.FixtureRequest) -> Iterator[None]:
    """A task a test enqueued but never ran must not come back in a later test, sent again by
    the workers' outbox sweep (fleet/dispatch/outbox.py)."""
    yield
    if "services" in request.fixturenames:
        redis.Redis.from_url(os.environ["FLEET_REDIS_URL"]).delete(keys.OUTBOX, keys.OUTBOX_DUE)


@pytest.fixture
def pg(services: FleetEnv) -> Iterator[object]:
    import psycopg

    with psycopg.connect(services.database_url, autocommit=True) as conn:
        yield conn


class WorkerProcess(harness.WorkerProcess):
    def __init__(self, queues: list[str], name: str, env: dict[str, str] | None = None,
                 pool: str = "threads", concurrency: int = 8) -> None:
        super().__init__(queues, name, env, pool, concurrency, run_id=RUN_ID)


@pytest.fixture(scope="module")
def worker(services: FleetEnv) -> Iterator[WorkerProcess]:
    """One worker consuming dispatch, every model queue and beat."""
    proc = WorkerProcess(["fleet.dispatch", *MODEL_QUEUES, "fleet.beat"], "all")
    yield proc
    proc.stop()


@pytest.fixture
def bare_client(services: FleetEnv) -> object:
    """A plain Celery client with no fleet import: how another service enqueues."""
    from celery import Celery

    client = Celery("other-service", broker=services.redis_url, backend=services.redis_url)
    client.conf.update(task_serializer="json", accept_content=["json"],
                       result_accept_content=["json"])
    return client


def _throwaway_redis() -> Iterator[harness.ThrowawayRedis]:
    server = harness.ThrowawayRedis(harness.free_port())
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def own_redis() -> Iterator[harness.ThrowawayRedis]:
    """A redis-server of the test's own (append-only file), to stop and start."""
    yield from _throwaway_redis()


@pytest.fixture
def own_broker() -> Iterator[harness.ThrowawayRedis]:
    """A second one, for a broker that stays up while the fleet's state Redis goes away."""
    yield from _throwaway_redis()


@contextlib.contextmanager
def http_process(args: list[str], name: str, health: str, env: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, port: int | None = None,
                 crash: bool = False) -> Iterator[tuple[httpx.Client, Path]]:
    """``python -m <args> --port P`` on ``port`` (default: a free one), once ``health``
    answers 200; yields a client for it and its log. ``crash``: end it with SIGKILL, dropping
    its open connections (a graceful stop lets them finish)."""
    port = port or harness.free_port()
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
        if crash:
            proc.kill()
        else:
            proc.terminate()
        proc.wait(10)


def assert_ran_once(task_id: str, redis_client: redis.Redis, pg: Any) -> None:
    """The task ran once and completed: one ``start`` event, one cost row (attempt 1), and no
    copy of its message left in the outbox."""
    log = [json.loads(f[b"e"]) for _, f in redis_client.xrange(keys.stream_log(task_id))]
    assert [e["type"] for e in log].count("start") == 1, task_id
    assert log[-1]["type"] == "complete"
    rows = pg.execute("SELECT attempt FROM cost_entries WHERE task_id = %s",
                      (task_id,)).fetchall()
    assert [r[0] for r in rows] == [1]
    # A copy that reached the worker while the task ran waits for it by a retry, kept in the
    # outbox until the retry is taken (and acknowledged: the task has finished).
    deadline = time.monotonic() + 30
    while redis_client.hget(keys.OUTBOX, task_id) is not None:
        assert time.monotonic() < deadline, f"{task_id} left a copy in the outbox"
        time.sleep(0.2)
