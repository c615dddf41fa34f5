"""PostgreSQL stopped under traffic: tasks keep completing, cost rows and selections are spooled
in Redis, and once PostgreSQL is back every row is there, exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from fleet.backends.migrate import migrate
from tests.conftest import RUN_ID
from tests.harness import ThrowawayPostgres, WorkerProcess, free_port, wait_result

pytestmark = pytest.mark.integration


@pytest.fixture
def own_postgres() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres(free_port())
    server.start()
    migrate(server.url)
    yield server
    server.destroy()


def test_no_cost_row_is_lost_while_postgres_is_down(own_postgres, bare_client,
                                                    redis_client: Any) -> None:
    env = {"FLEET_DATABASE_URL": own_postgres.url, "FLEET_SIM_TTFT_MS": "0",
           "FLEET_SIM_TOKENS_PER_SECOND": "400"}
    worker = WorkerProcess(["fleet.dispatch", "model.claude-haiku-4", "fleet.beat"],
                           "pg-outage", env, concurrency=16, run_id=RUN_ID)
    ids: list[str] = []
    try:
        def traffic() -> None:
            for i in range(60):
                task_id = f"outage-{i}-{RUN_ID}"
                bare_client.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
                    "id": task_id, "type": "quality-gate", "description": f"Gate {i}: PASS?",
                    "max_output_tokens": 20, "preferred_model": "claude-haiku-4"}})
                ids.append(task_id)
                time.sleep(0.1)

        thread = threading.Thread(target=traffic)
        thread.start()
        time.sleep(0.8)
        own_postgres.stop()
        time.sleep(6.0)  # longer than the pool's 5 s wait: writes must fail over to the spool
        own_postgres.start()
        thread.join()
        for task_id in ids:  # every task completed although PostgreSQL went away
            assert wait_result(bare_client.AsyncResult(task_id), 90)["status"] == "complete"
        assert redis_client.llen("fleet:costs:spool") > 0, "the outage should have spooled rows"
        deadline = time.monotonic() + 60
        while redis_client.llen("fleet:costs:spool") or redis_client.llen(
                "fleet:selections:spool"):
            assert time.monotonic() < deadline, "spool not drained"
            bare_client.send_task("fleet.beat.drain_cost_spool", queue="fleet.beat")
            time.sleep(1)
    finally:
        worker.stop()
    with psycopg.connect(own_postgres.url) as conn:
        costs = conn.execute("SELECT task_id, count(*) FROM cost_entries GROUP BY task_id"
                             ).fetchall()
        selections = conn.execute("SELECT count(*) FROM routing_selections").fetchone()
    assert sorted(t for t, _ in costs) == sorted(ids)
    assert all(n == 1 for _, n in costs)
    assert selections is not None and selections[0] == len(ids)
