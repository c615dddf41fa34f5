"""PostgreSQL: the process's pooled database (:attr:`fleet.services.Services.db`), batch rows as
JSON, and creating or dropping a database."""

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

DOWN_COOLOFF_SECONDS = 2.0


def normalise(url: str) -> str:
    # Accept SQLAlchemy-style URLs too, so one FLEET_DATABASE_URL serves both libraries.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Database:
    """One PostgreSQL database: a lazily opened, thread-safe connection pool, and whether it
    just failed (so writers that can spool do so at once instead of waiting on it)."""

    def __init__(self, url: str) -> None:
        self.url = normalise(url)
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._down_until = 0.0

    def mark_down(self) -> None:
        """Remember that PostgreSQL just failed: for a moment, writers that can spool do so at
        once instead of each waiting for a connection (an outage must not stall dispatch)."""
        self._down_until = time.monotonic() + DOWN_COOLOFF_SECONDS

    def probably_up(self) -> bool:
        return time.monotonic() >= self._down_until

    @property
    def pool(self) -> ConnectionPool:
        with self._lock:
            if self._pool is None:
                # A short wait and a health check on checkout: when PostgreSQL is down the cost
                # path must fail fast (and spool), and recover by itself when it is back.
                self._pool = ConnectionPool(
                    self.url, min_size=1, max_size=10, open=True, timeout=2.0,
                    check=ConnectionPool.check_connection,
                    kwargs={"autocommit": False, "connect_timeout": 5}, name="fleet")
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A pooled connection inside a transaction that commits on success."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def autocommit(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """A pooled connection in autocommit mode, for a write that is one statement: it is
        its own transaction, one round trip instead of three (BEGIN, the statement, COMMIT)."""
        with self.pool.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                with suppress(psycopg.Error):  # a broken connection is replaced by the pool
                    conn.autocommit = False  # the pool's other users expect transactions

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


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


def ensure_database(url: str) -> bool:
    """Create the target database if missing; True when this call created it.

    Safe under concurrency: a racing CREATE DATABASE fails with a duplicate error we ignore.
    """
    params = conninfo_to_dict(normalise(url))
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
    params = conninfo_to_dict(normalise(url))
    admin = make_conninfo(**{**params, "dbname": "postgres"})  # type: ignore[arg-type]
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(str(params["dbname"]))))
