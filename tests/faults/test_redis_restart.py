"""Redis restarted mid-run (its own redis-server with an append-only file): workers, the
stream relay and subscribers reconnect, and no accepted task is lost — whether the outage is
shorter than the fleet's Redis client retries (commands just wait) or longer (the tasks that
were running wait for Redis and are retried, continuing their streams). The budget ledger
counts every recorded cost, including that of attempts cut off by the outage."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import redis
from celery import Celery

from fleet.backends import keys
from fleet.costs.budget import ledger_key
from fleet.streaming.subscribe import subscribe
from tests.conftest import RUN_ID
from tests.harness import WorkerProcess, wait_result

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 5.0


@pytest.mark.parametrize(("client_retries", "visibility"), [
    pytest.param("20", "8", id="outage-within-client-retries"),
    # ~0.3 s of client retries, and no redelivery by visibility timeout within the test:
    # the running tasks must come through by waiting for Redis and retrying.
    pytest.param("2", "300", id="outage-longer-than-client-retries"),
])
def test_workers_and_subscribers_survive_a_redis_restart(own_redis, pg, client_retries: str,
                                                         visibility: str) -> None:
    env = {"FLEET_REDIS_URL": own_redis.url, "FLEET_BROKER_URL": own_redis.url,
           "FLEET_VISIBILITY_TIMEOUT": visibility, "FLEET_SIM_TTFT_MS": "20",
           "FLEET_SIM_TOKENS_PER_SECOND": "100", "FLEET_SIM_OUTPUT_TOKENS": "60",
           "FLEET_REDIS_RETRIES": client_retries,
           # A worker that popped an execute message as Redis shut down puts it back
           # (fleet.compat); the outbox sends one that is lost anyway again.
           "FLEET_REDELIVER_AFTER": "10"}
    # Sending only: a result backend here would keep a listener that cannot survive the
    # restart; results are read with a fresh client afterwards.
    client = Celery("other-service", broker=own_redis.url)
    client.conf.update(task_serializer="json", accept_content=["json"],
                       broker_connection_retry=True)
    workers = [WorkerProcess(["fleet.dispatch"], "rr-dispatch", env, concurrency=8,
                             run_id=RUN_ID),
               WorkerProcess(["model.claude-haiku-4"], "rr-exec", env, concurrency=32,
                             run_id=RUN_ID)]
    accepted: list[str] = []
    watched = f"rr-watched-{uuid.uuid4().hex[:6]}"
    seen: list[int] = []

    def send(task_id: str, tokens: int = 60) -> None:
        body = {"id": task_id, "type": "quality-gate", "description": "Gate: PASS?",
                "max_output_tokens": tokens, "preferred_model": "claude-haiku-4"}
        for _ in range(60):  # a send that fails was not accepted: the caller tries again
            try:
                client.send_task("fleet.dispatch", queue="fleet.dispatch",
                                 kwargs={"task": body}, retry=False)
                accepted.append(task_id)
                return
            except Exception:
                time.sleep(0.5)
        raise AssertionError(f"could not send {task_id}")

    def traffic() -> None:
        for i in range(60):
            send(f"rr-{i}-{uuid.uuid4().hex[:6]}")
            time.sleep(0.05)

    def watch() -> None:
        subscriber = redis.Redis.from_url(own_redis.url, retry_on_error=[
            redis.ConnectionError], retry=redis.retry.Retry(
                redis.backoff.ExponentialBackoff(cap=1.0), 40))
        seen.extend(e.seq for e in subscribe(subscriber, watched, timeout=60))

    try:
        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.3)
        send(watched, tokens=300)  # three seconds of streaming, across the restart
        sender = threading.Thread(target=traffic)
        sender.start()
        time.sleep(1.0)
        own_redis.stop()
        time.sleep(OUTAGE_SECONDS)
        own_redis.start()
        sender.join(60)
        watcher.join(90)
        # Completion as the fleet records it: the stream's final event (and its result).
        check = redis.Redis.from_url(own_redis.url)
        deadline = time.monotonic() + 90
        finals: dict[str, list[str]] = {}
        while time.monotonic() < deadline:
            finals = {task_id: [json.loads(f[b"e"])["type"] for _, f in
                                check.xrange(keys.stream_log(task_id))] for task_id in accepted}
            if all(types and types[-1] == "complete" for types in finals.values()):
                break
            time.sleep(1)
        reader = Celery("reader", broker=own_redis.url, backend=own_redis.url)
        reader.conf.update(accept_content=["json"])
        results = {task_id: wait_result(reader.AsyncResult(task_id), 30)
                   for task_id in accepted}
    finally:
        for w in workers:
            w.stop()
    assert len(accepted) == 61
    broken = {task_id: types for task_id, types in finals.items()
              if types.count("complete") != 1 or types[-1] != "complete"}
    assert not broken, ({task_id: [t for t in types if t != "chunk"] + [f"{len(types)} events"]
                         for task_id, types in broken.items()},
                        [line for w in workers for line in w.log().splitlines()
                         if any(task_id in line for task_id in broken)])
    assert all(r["status"] == "complete" for r in results.values())
    assert seen and seen == list(range(len(seen)))  # the subscriber got every event, once
    # The ledger (rebuilt from PostgreSQL when the workers started) has added every cost row
    # since, without waiting for the next rebuild, and holds no reservation.
    today = datetime.now(UTC).date()
    recorded = Decimal(str(pg.execute(
        "SELECT coalesce(sum(cost_usd), 0) FROM cost_entries WHERE created_at >= %s",
        (datetime.combine(today, datetime.min.time(), UTC),)).fetchone()[0]))
    assert Decimal(check.hget(ledger_key("daily", today), "spent").decode()) / 10**8 == recorded
    assert check.hlen(keys.BUDGET_RESERVATIONS) == 0
