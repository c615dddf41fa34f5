"""What one fleet task costs the shared services: Redis commands (by name, Lua scripts' own
calls counted inside them), bytes in and out of Redis, pub/sub messages, PostgreSQL rows and
transactions — the inputs of docs/scaling.md's plan.

Tasks go through ``fleet.dispatch`` to one model worker, each streaming ``tokens`` tokens (the
simulated provider, no waiting) with the default chunking; the counters are read from Redis
``INFO commandstats`` / ``INFO stats`` and ``pg_stat_database`` before and after, with no other
client on this run's Redis and database (other databases' traffic on the same server is small
and shows as noise).

Run: python -m bench.footprint [tasks] [tokens] [tokens_per_second]
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

import psycopg
import redis
from celery import Celery

from bench.common import bench_env
from tests.harness import WorkerProcess, wait_result

QUEUE = "model.claude-haiku-4"


def _redis_counters(client: redis.Redis) -> dict[str, int]:
    stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    counters = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    info: dict[str, Any] = client.info("stats")  # type: ignore[assignment]
    counters["bytes_in"] = int(info["total_net_input_bytes"])
    counters["bytes_out"] = int(info["total_net_output_bytes"])
    return counters


def _pg_counters(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT xact_commit, tup_inserted, tup_updated, tup_deleted "
                           "FROM pg_stat_database WHERE datname = current_database()"
                           ).fetchone()
    assert row is not None
    return dict(zip(("transactions", "rows_inserted", "rows_updated", "rows_deleted"),
                    (int(v) for v in row), strict=True))


def run(tasks: int = 300, tokens: int = 850, tokens_per_second: int = 0) -> dict[str, Any]:
    """``tokens_per_second``: 0 streams as fast as read (chunks fill to ``flushChars``); a
    model's pace makes a chunk of every ``flushMs`` instead."""
    with bench_env() as env:
        worker_env = env | {"FLEET_SIM_TTFT_MS": "0",
                            "FLEET_SIM_TOKENS_PER_SECOND": str(tokens_per_second),
                            "FLEET_SIM_OUTPUT_TOKENS": str(tokens)}
        workers = [WorkerProcess(["fleet.dispatch"], "fp-dispatch", worker_env, concurrency=8),
                   WorkerProcess([QUEUE], "fp-streams", worker_env, concurrency=max(32, tasks))]
        client = redis.Redis.from_url(env["FLEET_REDIS_URL"])
        app = Celery("footprint", broker=env["FLEET_BROKER_URL"],
                     backend=env["FLEET_REDIS_URL"])
        app.conf.update(task_serializer="json", accept_content=["json"],
                        result_accept_content=["json"])
        try:
            time.sleep(2)  # the workers' start-up traffic is not the tasks'
            redis0, pg0 = _redis_counters(client), _pg_counters(env["FLEET_DATABASE_URL"])
            ids = [f"fp-{uuid.uuid4().hex[:12]}" for _ in range(tasks)]
            for task_id in ids:
                app.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
                    "id": task_id, "type": "general", "description": f"Explain {task_id}.",
                    "max_output_tokens": 2000, "preferred_model": "claude-haiku-4"}})
            for task_id in ids:
                wait_result(app.AsyncResult(task_id), 120)
            time.sleep(1.5)  # selections gather for 50 ms, cost rows for their batch
            redis1, pg1 = _redis_counters(client), _pg_counters(env["FLEET_DATABASE_URL"])
        finally:
            for worker in reversed(workers):
                worker.stop()
    redis_per_task = {name: (redis1[name] - redis0.get(name, 0)) / tasks
                      for name in redis1 if redis1[name] != redis0.get(name, 0)}
    return {"tasks": tasks, "tokens": tokens, "tokens_per_second": tokens_per_second,
            "redis": dict(sorted(redis_per_task.items(), key=lambda kv: -kv[1])),
            "postgres": {name: (pg1[name] - pg0[name]) / tasks for name in pg1}}


if __name__ == "__main__":
    result = run(*(int(a) for a in sys.argv[1:4]))
    print(json.dumps(result, indent=1, default=lambda x: round(x, 2)))
