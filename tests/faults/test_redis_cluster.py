"""The fleet's state on a Redis Cluster (three masters, a replica each): tasks stream, settle
and cancel with their keys spread over the masters; the budget race holds; a master killed
mid-run is failed over to its replica and no accepted task is lost or doubled.

Celery's broker and results stay on the test's single Redis (Celery cannot use a cluster)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis

from fleet.backends import keys
from fleet.costs.budget import ledger_key
from fleet.errors import FleetError
from fleet.streaming.events import EVENTS_CHANNEL
from tests.fixtures import WorkerProcess
from tests.harness import wait_redis
from tests.redis_cluster import LocalCluster

pytestmark = pytest.mark.integration

FAST = {"FLEET_SIM_TTFT_MS": "0", "FLEET_SIM_TOKENS_PER_SECOND": "2000",
        "FLEET_SIM_OUTPUT_TOKENS": "60"}
BUDGET = {"COST_TRACKING_ENABLED": "true", "BUDGET_LIMIT_DAILY": "1000",
          "BUDGET_LIMIT_MONTHLY": ""}


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    local = LocalCluster()
    yield local
    local.stop()


def _env(cluster: LocalCluster, services: Any, **extra: str) -> dict[str, str]:
    return {"FLEET_REDIS_URL": cluster.url, "FLEET_BROKER_URL": services.redis_url,
            **BUDGET, **extra}


def _task(tokens: int = 60, **fields: Any) -> dict[str, Any]:
    return {"id": f"cl-{uuid.uuid4().hex[:12]}", "type": "general",
            "description": "Explain why this test is flaky.", "preferred_model": "claude-haiku-4",
            "max_output_tokens": tokens, **fields}


def _log(state: Any, task_id: str) -> list[dict[str, Any]]:
    return [json.loads(f[b"e"]) for _, f in state.xrange(keys.stream_log(task_id))]


def _ran_once(state: Any, pg: Any, task_id: str, tokens: int) -> None:
    """A whole, gap-free stream with one start, and one cost row."""
    events = _log(state, task_id)
    assert [e["seq"] for e in events] == list(range(len(events))), task_id
    assert [e["type"] for e in events].count("start") == 1, task_id
    assert events[-1]["type"] == "complete", events[-1]
    assert events[-1]["data"]["usage"]["output_tokens"] == tokens
    rows = pg.execute("SELECT attempt FROM cost_entries WHERE task_id = %s", (task_id,))
    assert [r[0] for r in rows.fetchall()] == [1], task_id


def test_tasks_stream_settle_and_cancel_on_a_cluster(cluster: LocalCluster, services: Any,
                                                     pg: Any) -> None:
    from fleet.client import AsyncClient, Client
    from fleet.streaming.subscribe import read_log

    worker = WorkerProcess(["fleet.dispatch", "model.claude-haiku-4"], "cluster-e2e",
                           _env(cluster, services, **FAST))
    client = Client(broker_url=services.redis_url, redis_url=cluster.url)
    state = client.redis
    try:
        # Fleet-wide events (classic pub/sub: any node) and, before submitting a task, another
        # service listening on its sharded channel.
        outside = redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        fleet_events = outside.pubsub(ignore_subscribe_messages=True)
        fleet_events.subscribe(EVENTS_CHANNEL)
        listener = outside.pubsub()
        watched = _task()
        listener.ssubscribe(keys.stream_channel(watched["id"]))
        handles = [client.submit(watched), *(client.submit(_task()) for _ in range(11))]
        for handle in handles:  # followed through the log (XREAD BLOCK on its node)
            events = list(handle.stream(timeout=60))
            assert [e.seq for e in events] == list(range(len(events)))
            assert events[0].type == "start" and events[-1].type == "complete"
            assert sum(e.type == "chunk" for e in events) > 1
        # Replayed from the log: a subscriber that resumes after seq 2 gets the rest, once.
        resumed = [e.seq for e in handles[1].stream(after_seq=2, timeout=10)]
        assert resumed == list(range(3, resumed[-1] + 1)) and len(resumed) > 1
        heard: list[int] = []
        while (message := listener.get_sharded_message(timeout=1.0)) is not None:
            if message["type"] == "smessage":
                heard.append(json.loads(message["data"])["seq"])
        assert heard == [e["seq"] for e in read_log(state, watched["id"])]
        tracked: set[str] = set()
        deadline = time.monotonic() + 10
        while tracked != {h.id for h in handles} and time.monotonic() < deadline:
            message = fleet_events.get_message(timeout=0.5)  # None: quiet, or the subscribe
            if message is not None and (event := json.loads(message["data"]))["type"] == \
                    "cost.tracked":
                tracked.add(event["taskId"])
        assert tracked == {h.id for h in handles}

        async def follow() -> list[int]:
            handle = await AsyncClient(broker_url=services.redis_url,
                                       redis_url=cluster.url).submit(_task())
            return [event.seq async for event in handle.events(timeout=60)]

        seqs = asyncio.run(follow())
        assert seqs == list(range(len(seqs))) and len(seqs) > 3

        never_sent = f"cl-{uuid.uuid4().hex[:12]}"
        assert client.submit(_task()).cancel() in {"running", "finished", "ended"}
        assert client._cancel(never_sent) == "ended"
        assert _log(state, never_sent)[-1]["data"]["code"] == "TASK_004"
    finally:
        worker.stop()
    for handle in handles:
        _ran_once(state, pg, handle.id, 60)
    # The tasks' keys are spread over the masters, each task's keys on one.
    assert len({cluster.master_of(keys.stream_log(h.id)) for h in handles}) >= 2
    assert {cluster.master_of(k(handles[0].id)) for k in
            (keys.stream_log, keys.lease, keys.attempt_counter, keys.cancelled)} == {
        cluster.master_of(keys.stream_log(handles[0].id))}
    wait_redis(lambda: state.hlen(keys.BUDGET_RESERVATIONS) == 0, "every reservation released")
    from datetime import UTC, datetime

    assert int(state.hget(ledger_key("daily", datetime.now(UTC).date()), "spent")) > 0


def test_the_budget_race_on_a_cluster(cluster: LocalCluster, services: Any, pg: Any) -> None:
    """80 tasks at once through two dispatchers against a limit that fits about half."""
    from fleet.client import Client

    room = Decimal("0.004")
    spent_before = Decimal(str(pg.execute(  # the ledger is rebuilt from PostgreSQL's rows
        "SELECT coalesce(sum(cost_usd), 0) FROM cost_entries WHERE created_at >= "
        "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'").fetchone()[0]))
    env = _env(cluster, services, BUDGET_LIMIT_DAILY=str(spent_before + room),
               FLEET_SIM_TTFT_MS="0",
               FLEET_SIM_TOKENS_PER_SECOND="0")
    state = redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    for key in [k for node in cluster.ports for k in
                cluster.node(node).scan_iter("{fleet:budget}*")]:
        state.delete(key)
    workers = [WorkerProcess(["fleet.dispatch"], f"cluster-race-{i}", env, concurrency=16)
               for i in range(2)]
    workers.append(WorkerProcess(["model.claude-haiku-4"], "cluster-race-exec", env,
                                 concurrency=32))
    client = Client(broker_url=services.redis_url, redis_url=cluster.url)
    try:
        handles = [client.submit(_task(100, type="quality-gate")) for _ in range(80)]
        accepted, refused = [], set()
        for handle in handles:
            try:
                handle.result(timeout=90)
                accepted.append(handle.id)
            except FleetError as exc:
                refused.add(exc.code)
    finally:
        for w in workers:
            w.stop()
    assert accepted and refused == {"ROUTER_002"}
    row = pg.execute("SELECT count(*), sum(cost_usd), max(cost_usd) FROM cost_entries "
                     "WHERE task_id = ANY(%s)", (accepted,)).fetchone()
    assert row[0] == len(accepted)
    spent, one_task = Decimal(str(row[1])), Decimal(str(row[2]))
    assert spent <= room + one_task * Decimal("1.2")  # over by at most one reservation
    assert spent >= room - one_task * 3
    assert state.hlen(keys.BUDGET_RESERVATIONS) == 0


@pytest.fixture
def fresh_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own: a test that kills a master leaves one without a replica."""
    local = LocalCluster()
    yield local
    local.stop()


SLOW = {"FLEET_SIM_TTFT_MS": "50", "FLEET_SIM_TOKENS_PER_SECOND": "100",
        "FLEET_SIM_OUTPUT_TOKENS": "300"}


@pytest.mark.parametrize("replica_behind", [False, True], ids=["in-sync", "replica-behind"])
def test_a_master_killed_mid_run_loses_no_accepted_task(
        fresh_cluster: LocalCluster, services: Any, pg: Any, replica_behind: bool) -> None:
    """In sync: the replica held every write when its master died (no WAIT needed). Behind:
    the replica was frozen for a second while its master took writes, then the master died —
    what asynchronous replication loses, unless the fleet waits for a replica (WAIT): then the
    relay writes again what the promoted replica lacks."""
    from fleet.client import Client

    cluster = fresh_cluster
    wait_for = {"FLEET_REDIS_WAIT_REPLICAS": "1", "FLEET_REDIS_WAIT_MS": "200"}
    worker = WorkerProcess(["fleet.dispatch", "model.claude-haiku-4"], "cluster-kill",
                           _env(cluster, services, **SLOW, **(wait_for if replica_behind else {})),
                           concurrency=24)
    client = Client(broker_url=services.redis_url, redis_url=cluster.url)
    state = client.redis
    try:
        handles = [client.submit(_task(300)) for _ in range(20)]
        victim = cluster.master_of(keys.BUDGET_RESERVATIONS)  # the budget's master, and ~1/3
        doomed = [h.id for h in handles if cluster.master_of(keys.stream_log(h.id)) == victim]
        assert doomed, "some task should have its keys on the master that is killed"
        wait_redis(lambda: sum(len(_log(state, t)) > 5 for t in doomed) >= max(1, len(doomed) // 2),
             "tasks streaming on the doomed master")
        replica = cluster.replica_of(victim)
        running = [t for t in doomed if _log(state, t)[-1]["type"] != "complete"]
        assert running, "the kill should come while tasks stream through that master"
        if replica_behind:
            cluster.kill_behind(victim, replica, seconds=1.0)
        else:
            cluster.kill_in_sync(victim)
        wait_redis(lambda: cluster.master_of(keys.BUDGET_RESERVATIONS) == replica,
             "the replica's promotion")
        if replica_behind:
            # Its writes now wait for a replica the promoted master does not have yet: the
            # dead node comes back as one (an operator's recovery), and the fleet goes on.
            cluster.start(victim)
        for handle in handles:
            handle.result(timeout=120)  # a task that failed raises its error here
    finally:
        worker.stop()
    for handle in handles:
        _ran_once(state, pg, handle.id, 300)
    assert state.hlen(keys.BUDGET_RESERVATIONS) == 0
