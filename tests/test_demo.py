"""The README's first command, ``scripts/demo.sh``, runs the fleet's main job end to end: it
starts the fleet, submits the examples, streams one, generates, runs and gates tests for the
example project, and prints the cost summary."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import redis

from fleet.backends import postgres as db
from tests.conftest import PG_BASE, REDIS_HOST, REDIS_PORT
from tests.fixtures import ROOT
from tests.harness import claim_redis_db

pytestmark = pytest.mark.integration


def test_demo_runs_the_main_job_end_to_end() -> None:
    # Services of its own: the demo's beat runs the once-a-minute jobs (cost aggregation) on
    # its Redis and database, which must not use up the other tests' slots.
    owner = uuid.uuid4().hex[:10]
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{claim_redis_db(REDIS_HOST, REDIS_PORT, owner)}"
    database_url = f"{PG_BASE}/fleet_demo_{owner}"
    env = {**os.environ, "FLEET_REDIS_URL": redis_url, "FLEET_BROKER_URL": redis_url,
           "FLEET_DATABASE_URL": database_url}
    try:
        out = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=240)
    finally:
        db.drop_database(database_url)
        redis.Redis.from_url(redis_url).flushdb()
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "every model runs on the simulated provider" in out.stdout
    assert out.stdout.count("submitted examples/") == len(list((ROOT / "examples").glob("*.json")))
    # The live stream reached its final event (watch logs its status lines on stderr).
    assert "[complete:" in out.stderr
    assert "=== cost summary ===" in out.stdout and "total:" in out.stdout
    # The example project: tests generated and run, gaps on uncovered lines, a gate decided.
    assert "tests run in the sandbox: 3 passed, 0 failed, 0 errors" in out.stdout
    assert "file: src/shop/cart.py" in out.stdout and "lines:" in out.stdout
    assert "decision: FAIL" in out.stdout and "coverage >= 80" in out.stdout
