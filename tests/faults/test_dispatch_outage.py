"""``fleet.dispatch`` across a Redis outage longer than the client's retries, through real
worker processes: the broker (a redis-server of its own) stays up while the fleet's state Redis
(flags, budget, streams) is stopped, so dispatch tasks are delivered *during* the outage and
must wait for Redis and retry instead of failing."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from celery import Celery

from fleet.backends import keys
from tests.conftest import RUN_ID
from tests.harness import WorkerProcess, wait_result

pytestmark = pytest.mark.integration

OUTAGE_SECONDS = 4.0


def test_dispatches_delivered_while_redis_is_down_wait_and_complete(own_redis, own_broker,
                                                                     pg) -> None:
    broker = own_broker
    env = {"FLEET_REDIS_URL": own_redis.url, "FLEET_BROKER_URL": broker.url,
           "FLEET_RESULT_BACKEND": broker.url, "FLEET_REDIS_RETRIES": "2"}
    client = Celery("other-service", broker=broker.url, backend=broker.url)
    client.conf.update(task_serializer="json", accept_content=["json"])
    workers = [WorkerProcess(["fleet.dispatch"], "do-dispatch", env, concurrency=8,
                             run_id=RUN_ID),
               WorkerProcess(["model.claude-haiku-4"], "do-exec", env, concurrency=8,
                             run_id=RUN_ID)]

    def send(task_id: str) -> None:
        client.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
            "id": task_id, "type": "quality-gate", "description": "Gate: PASS?",
            "max_output_tokens": 40, "preferred_model": "claude-haiku-4"}})

    try:
        warm = f"do-warm-{uuid.uuid4().hex[:6]}"
        send(warm)
        assert wait_result(client.AsyncResult(warm), 30)["status"] == "complete"
        own_redis.stop()
        ids = [f"do-{i}-{uuid.uuid4().hex[:6]}" for i in range(10)]
        for task_id in ids:
            send(task_id)
        time.sleep(OUTAGE_SECONDS)  # delivered, and losing Redis past the client's retries
        own_redis.start()
        results = {task_id: wait_result(client.AsyncResult(task_id), 60) for task_id in ids}
        dispatch_log = workers[0].log_path.read_text(errors="replace")
    finally:
        for w in workers:
            w.stop()
    assert all(r["status"] == "complete" for r in results.values()), results
    assert dispatch_log.count("lost Redis") >= 8  # they were running when Redis was away
    state = redis.Redis.from_url(own_redis.url)
    for task_id in ids:
        types = [json.loads(f[b"e"])["type"] for _, f in state.xrange(keys.stream_log(task_id))]
        assert types[0] == "start" and types[-1] == "complete" and types.count("start") == 1
    rows = pg.execute("SELECT task_id, count(*) FROM routing_selections WHERE task_id = ANY(%s) "
                      "GROUP BY task_id", (ids,)).fetchall()
    assert sorted(rows) == sorted((task_id, 1) for task_id in ids)  # routed once each, stored
    costs = pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = ANY(%s)",
                       (ids,)).fetchone()
    assert costs[0] == len(ids)
