"""PostgreSQL access: one lazily created, thread-safe connection pool per process."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from fleet.config import get_settings

_lock = threading.Lock()
_pools: dict[str, ConnectionPool] = {}
_down_until = 0.0
DOWN_COOLOFF_SECONDS = 2.0


def mark_down() -> None:
    """Remember that PostgreSQL just failed: for a moment, writers that can spool do so at
    once instead of each waiting for a connection (an outage must not stall dispatch)."""
    global _down_until
    _down_until = time.monotonic() + DOWN_COOLOFF_SECONDS


def probably_up() -> bool:
    return time.monotonic() >= _down_until


def database_url() -> str:
    return get_settings().fleet_database_url.get_secret_value()


def _normalise(url: str) -> str:
    # Accept SQLAlchemy-style URLs too, so one FLEET_DATABASE_URL serves both libraries.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pool(url: str | None = None) -> ConnectionPool:
    key = _normalise(url or database_url())
    with _lock:
        existing = _pools.get(key)
        if existing is None:
            # A short wait and a health check on checkout: when PostgreSQL is down the cost
            # path must fail fast (and spool), and recover by itself when it is back.
            existing = ConnectionPool(key, min_size=1, max_size=10, open=True, timeout=2.0,
                                      check=ConnectionPool.check_connection,
                                      kwargs={"autocommit": False, "connect_timeout": 5},
                                      name="fleet")
            _pools[key] = existing
        return existing


@contextmanager
def connection(url: str | None = None) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A pooled connection inside a transaction that commits on success."""
    with pool(url).connection() as conn:
        yield conn


@contextmanager
def autocommit(url: str | None = None) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A pooled connection in autocommit mode, for a write that is one statement: it is its own
    transaction, one round trip instead of three (BEGIN, the statement, COMMIT)."""
    with pool(url).connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            with suppress(psycopg.Error):  # a broken connection is replaced by the pool
                conn.autocommit = False  # the pool's other users expect transactions


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)  # exact; numeric columns parse it back exactly
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as one JSON array, for ``INSERT … SELECT … FROM jsonb_to_recordset(%s::jsonb)``:
    a batch is one parameter and one statement, which costs the client far less than
    ``executemany`` (one bound statement per row)."""
    return json.dumps(rows, default=_json_default, separators=(",", ":"))


def close_pools() -> None:
    with _lock:
        for p in _pools.values():
            p.close()
        _pools.clear()


def ensure_database(url: str | None = None) -> bool:
    """Create the target database if missing; True when this call created it.

    Safe under concurrency: a racing CREATE DATABASE fails with a duplicate error we ignore.
    """
    params = conninfo_to_dict(_normalise(url or database_url()))
    dbname = str(params.get("dbname") or "fleet")
    admin = make_conninfo(**{**params, "dbname": "postgres"})  # type: ignore[arg-type]
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False
        return True


def drop_database(url: str) -> None:
    params = conninfo_to_dict(_normalise(url))
    admin = make_conninfo(**{**params, "dbname": "postgres"})  # type: ignore[arg-type]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(str(params["dbname"]))))
