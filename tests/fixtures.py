"""Fixtures: the migrated test database, a clean Redis db, and real worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from fleet import testing
from tests.conftest import DATABASE_URL, REDIS_URL, RUN_ID

ROOT = testing.ROOT
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
