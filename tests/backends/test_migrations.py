"""`fleet migrate` creates the database and is safe to run twice and concurrently."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from fleet.backends.postgres import drop_database
from tests.conftest import PG_BASE

ROOT = Path(__file__).resolve().parents[2]


def test_migrate_concurrently_then_again() -> None:
    url = f"{PG_BASE}/fleet_mig_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FLEET_DATABASE_URL": url}
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "fleet.cli", "migrate"], cwd=ROOT,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(3)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outs
        assert sum(b"created database" in out for out, _ in outs) == 1
        again = subprocess.run([sys.executable, "-m", "fleet.cli", "migrate"], cwd=ROOT,
                               env=env, capture_output=True, timeout=120)
        assert again.returncode == 0 and b"schema is at head" in again.stdout
        with psycopg.connect(url) as conn:
            tables = {r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        assert {"routing_selections", "cost_entries", "daily_cost_summaries"} <= tables
        assert len(version) == 1
    finally:
        drop_database(url)
