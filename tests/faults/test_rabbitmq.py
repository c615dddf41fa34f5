"""RabbitMQ as the broker: the fleet runs on it unchanged, and a dispatcher killed with
``kill -9`` holding messages another service sent loses none of them. RabbitMQ requeues what a
dead connection had not acknowledged; kombu's Redis transport cannot promise that for a message
it had popped and not yet recorded (the one hop the fleet's outbox cannot cover, since the
sender is not the fleet). Each test runs in a RabbitMQ virtual host of its own."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from tests.conftest import RUN_ID
from tests.fixtures import WorkerProcess, assert_ran_once
from tests.harness import wait_result

pytestmark = pytest.mark.integration

ENV = {"FLEET_SIM_TTFT_MS": "0", "FLEET_SIM_TOKENS_PER_SECOND": "0",
       "FLEET_SIM_OUTPUT_TOKENS": "20"}


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def rabbitmq() -> Iterator[str]:
    vhost = f"fleet-test-{RUN_ID}-{uuid.uuid4().hex[:4]}"
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _queue_types(vhost_url: str) -> dict[str, str]:
    vhost = vhost_url.rsplit("/", 1)[1]
    listing = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    return dict(line.split("\t")[:2] for line in listing.splitlines()[1:] if "\t" in line)


@pytest.mark.parametrize("queue_type", ["classic", "quorum"])
def test_a_dispatcher_killed_holding_messages_loses_none(rabbitmq: str, redis_client: Any,
                                                          pg: Any, services: Any,
                                                          queue_type: str) -> None:
    from kombu import Exchange, Queue

    env = {**ENV, "FLEET_BROKER_URL": rabbitmq, "FLEET_QUEUE_TYPE": queue_type}
    client = Celery("other-service", broker=rabbitmq, backend=services.redis_url)
    client.conf.update(task_serializer="json", accept_content=["json"],
                       result_accept_content=["json"])
    if queue_type == "quorum":  # another service declares the queue as the fleet does
        client.conf.task_queues = [Queue(
            "fleet.dispatch", Exchange("fleet.dispatch", type="direct"),
            routing_key="fleet.dispatch", queue_arguments={"x-queue-type": "quorum"})]
    ids = [f"rmq-{i}-{uuid.uuid4().hex[:6]}" for i in range(60)]
    for task_id in ids:
        client.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
            "id": task_id, "type": "quality-gate", "description": "Gate: PASS?",
            "max_output_tokens": 20, "preferred_model": "claude-haiku-4"}})
    executor = WorkerProcess(["model.claude-haiku-4"], "rmq-exec", env)
    victim = WorkerProcess(["fleet.dispatch"], "rmq-dispatch", env, concurrency=16)
    try:
        deadline = time.monotonic() + 20
        while b"] received" not in victim.log_path.read_bytes():
            assert time.monotonic() < deadline, "the dispatcher took no message"
            time.sleep(0.005)
        victim.kill()
        log = victim.log_path.read_text(errors="replace")
        received = set(re.findall(r"fleet\.dispatch\[([^\]]+)\] received", log))
        finished = set(re.findall(r"fleet\.dispatch\[([^\]]+)\] succeeded", log))
        assert received - finished, "the kill came too late to catch a message in flight"
        successor = WorkerProcess(["fleet.dispatch"], "rmq-dispatch-2", env)
        try:
            results = {task_id: wait_result(client.AsyncResult(task_id), 60)
                       for task_id in ids}
            assert all(r["status"] == "complete" for r in results.values())
            for task_id in ids:  # with the workers there to take any duplicate's copy
                assert_ran_once(task_id, redis_client, pg)
            types = _queue_types(rabbitmq)
            assert types["fleet.dispatch"] == types["model.claude-haiku-4"] == queue_type
        finally:
            successor.stop()
    finally:
        executor.stop()
        victim.stop()


def test_on_rabbitmq_an_urgent_task_overtakes_a_backlog(rabbitmq: str, redis_client: Any,
                                                        services: Any) -> None:
    """The fleet's priorities (0 first) on AMQP's (highest first), in a model queue that
    RabbitMQ keeps as a priority queue."""
    from fleet.streaming.subscribe import read_log

    env = {**ENV, "FLEET_BROKER_URL": rabbitmq}
    client = Celery("other-service", broker=rabbitmq, backend=services.redis_url)
    client.conf.update(task_serializer="json", accept_content=["json"],
                       result_accept_content=["json"])
    # One dispatch thread: the execute messages are queued in the order sent.
    dispatcher = WorkerProcess(["fleet.dispatch"], "rmq-prio-dispatch", env, concurrency=1)
    ids = [f"rmq-prio-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    try:  # a backlog of unhurried tasks, then an urgent one, while no worker takes them
        dispatched = [client.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
            "id": task_id, "type": "general", "description": "Explain it.",
            "priority": 0 if task_id == ids[-1] else 9, "max_output_tokens": 20,
            "preferred_model": "claude-haiku-4"}}) for task_id in ids]
        for result in dispatched:
            wait_result(result, 30)
    finally:
        dispatcher.stop()
    executor = WorkerProcess(["model.claude-haiku-4"], "rmq-prio-exec", env, concurrency=1)
    try:
        for task_id in ids:
            wait_result(client.AsyncResult(task_id), 60)
    finally:
        executor.stop()
    started = {task_id: read_log(redis_client, task_id)[0]["ts"] for task_id in ids}
    order = sorted(ids, key=started.__getitem__)
    assert order[0] == ids[-1]  # the urgent one ran first
    assert order[1:] == ids[:-1]  # the rest in the order sent
