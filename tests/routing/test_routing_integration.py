"""Routing through real processes: tasks of different difficulty land on different model queues,
and flipping both flags off under live traffic loses no task (seed §9.4 rollback)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from fleet.backends import keys
from tests.fixtures import MODEL_QUEUES, ROOT, WorkerProcess
from tests.harness import wait_result

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fleet_workers(services: Any) -> Iterator[dict[str, WorkerProcess]]:
    procs = {"dispatch": WorkerProcess(["fleet.dispatch"], "dispatch")}
    for queue in MODEL_QUEUES:
        procs[queue] = WorkerProcess([queue], queue.replace(".", "-"), concurrency=16)
    yield procs
    for proc in procs.values():
        proc.stop()


@pytest.fixture
def clean_flags(redis_client: Any) -> Iterator[None]:
    redis_client.delete("fleet:flags")
    yield
    redis_client.delete("fleet:flags")


EASY = {"type": "quality-gate", "description": "All 120 tests pass, coverage 92%. PASS or FAIL?"}
MEDIUM = {"type": "test-generation",
          "description": "Write unit tests for this parser covering boundary values, invalid "
                         "input and every error path.",
          "code": ("def parse_%d(text, strict=False):\n    if not text:\n        raise ValueError\n"
                   "    parts = text.split(',')\n    for p in parts:\n"
                   "        if strict and not p.isdigit():\n            raise ValueError(p)\n"
                   "    return [int(p) for p in parts if p.isdigit()]\n\n") * 1}
HARD = {"type": "flaky-test-hunting",
        "description": "Find the race condition and the deadlock in this scheduler, explain step "
                       "by step why the intermittent failures happen under concurrency, and "
                       "prove the fix keeps the invariant.",
        "files": [{"path": f"sched{i}.py", "content": (
            "import threading\nlock = threading.Lock()\n\ndef run(q, workers):\n"
            "    for w in workers:\n        with lock:\n            if w.busy and not q.empty():\n"
            "                while q.pending:\n                    try:\n"
            "                        w.take(q.get())\n                    except TimeoutError:\n"
            "                        if w.retry or q.closed:\n"
            "                            continue\n") * 20} for i in range(12)]}


def fleet_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "fleet.cli", *args], cwd=ROOT, check=True,
                   capture_output=True, timeout=60)


def test_difficulty_decides_the_model_queue(fleet_workers, bare_client, clean_flags) -> None:
    results = {}
    for name, payload in (("easy", EASY), ("medium", MEDIUM), ("hard", HARD)):
        body = payload | {"id": f"r-{name}-{uuid.uuid4().hex[:8]}", "max_output_tokens": 20}
        selection = wait_result(bare_client.send_task("fleet.dispatch", kwargs={"task": body},
                                                      queue="fleet.dispatch"), 30)
        result = wait_result(bare_client.AsyncResult(body["id"]), 30)
        results[name] = (selection["modelName"], result["worker"])
    assert results["easy"][0] == "claude-haiku-4"
    assert results["medium"][0] == "claude-sonnet-4.5"
    assert results["hard"][0] == "claude-opus-4"
    for model, worker in results.values():  # executed by the worker of that model's queue
        assert worker.startswith(f"model-{model}".replace(".", "-"))


def test_flags_off_under_live_traffic_loses_nothing(fleet_workers, bare_client, redis_client,
                                                    clean_flags) -> None:
    submitted: list[tuple[str, float]] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            body = HARD | {"id": f"live-{uuid.uuid4().hex}", "max_output_tokens": 30}
            bare_client.send_task("fleet.dispatch", kwargs={"task": body},
                                  queue="fleet.dispatch")
            submitted.append((body["id"], time.monotonic()))
            time.sleep(0.02)

    thread = threading.Thread(target=traffic)
    thread.start()
    time.sleep(1.0)
    fleet_cli("flags", "set", "router", "off")
    fleet_cli("flags", "set", "streaming", "off")
    flipped_at = time.monotonic()
    time.sleep(2.0)
    stop.set()
    thread.join()

    assert len(submitted) > 40
    after = [(tid, t) for tid, t in submitted if t > flipped_at + 1.0]
    before = [(tid, t) for tid, t in submitted if t < flipped_at - 0.1]
    assert after and before
    for task_id, _ in submitted:  # every accepted task completed exactly once
        result = wait_result(bare_client.AsyncResult(task_id), 60)
        assert result["status"] == "complete"
        log = [json.loads(f[b"e"]) for _, f in redis_client.xrange(keys.stream_log(task_id))]
        assert [e["seq"] for e in log] == list(range(len(log)))
        assert sum(e["type"] == "complete" for e in log) == 1
    for task_id, _ in after:  # v1.0.4 mode: default model, start + complete only
        log = [json.loads(f[b"e"]) for _, f in redis_client.xrange(keys.stream_log(task_id))]
        assert {e["model"] for e in log} == {"claude-sonnet-4.5"}
        assert [e["type"] for e in log] == ["start", "complete"]
    # Before the flip the router was on; tasks still queued at the flip may take either path.
    routed = [json.loads(redis_client.xrange(keys.stream_log(tid))[0][1][b"e"])["model"]
              for tid, _ in before]
    assert routed[0] == "claude-opus-4"
    assert set(routed) <= {"claude-opus-4", "claude-sonnet-4.5"}


def test_models_list_shows_which_models_have_workers(fleet_workers, redis_client,
                                                    tmp_path) -> None:
    """Each worker announces the model queues it consumes; a model registered at run time has
    none until a worker for its queue starts (and routers skip it meanwhile)."""
    consumed = {k.decode() for k in redis_client.hkeys("fleet:consumers")}
    assert set(MODEL_QUEUES) <= consumed
    spec = tmp_path / "model.json"
    spec.write_text(json.dumps({
        "name": "rt-unserved", "provider": "simulated", "model": "sim",
        "capabilities": {"maxTokens": 100000, "costPer1kTokens": {"input": 0.0001,
                                                                  "output": 0.0001}},
        "complexityRange": {"min": 0, "max": 1}}))
    fleet_cli("models", "register", str(spec))
    try:
        listing = subprocess.run([sys.executable, "-m", "fleet.cli", "models", "list"],
                                 cwd=ROOT, capture_output=True, text=True, check=True).stdout
        rows = {line.split()[0]: line for line in listing.splitlines()}
        assert rows["claude-haiku-4"].endswith("  workers")
        assert rows["rt-unserved"].endswith("no workers")
    finally:
        redis_client.hdel("fleet:models", "model:rt-unserved")
