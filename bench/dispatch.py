"""Dispatch throughput, end to end (enqueue → worker done), against bare Celery.

Three runs with the same broker, the same worker pool (threads, same concurrency, same number
of processes) and the same task count: bare Celery running a no-op task (the baseline), the
fleet through ``fleet.submit`` (routing in the caller, one broker hop), and through
``fleet.dispatch`` (two hops). The simulated provider has zero latency, so the numbers measure
the fleet's own overhead: routing, the stream events, the cost row, the budget.

A fourth run, the *ceiling*, sends the same ``fleet.submit`` messages to workers whose
``fleet.execute`` does nothing (:mod:`bench.stub_app`): the most a one-hop fleet task could
reach if its own work cost nothing.

Run: python -m bench.dispatch [tasks [rounds]]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import redis

from bench.common import bench_env, process_cpu
from tests.harness import ROOT, WorkerProcess, wait_result

PROCESSES = 2
CONCURRENCY = 8


class CpuMeter:
    """CPU seconds spent during a run by this process (the client, all its threads), the
    worker processes and the Redis server, from ``/proc/<pid>/stat`` and Redis ``INFO cpu``."""

    def __init__(self, worker_pids: list[int], redis_url: str) -> None:
        self.worker_pids = worker_pids
        self.redis = redis.Redis.from_url(redis_url)
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        workers = sum(sum(process_cpu(pid)) for pid in self.worker_pids)
        info: dict[str, Any] = self.redis.info("cpu")  # type: ignore[assignment]
        return {"client": time.process_time(), "workers": workers,
                "redis": float(info["used_cpu_sys"]) + float(info["used_cpu_user"])}

    def per_task_ms(self, n: int) -> dict[str, float]:
        end = self._read()
        return {k: (end[k] - self.start[k]) * 1000 / n for k in end}


def task_body(i: int) -> dict[str, Any]:
    return {"id": f"tp-{uuid.uuid4().hex[:12]}", "type": "quality-gate",
            "description": f"Build {i}: all tests pass, coverage 90%. PASS or FAIL?",
            "max_output_tokens": 16, "preferred_model": "claude-haiku-4"}


def wait_all(app: Any, ids: list[str], timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    for task_id in ids:
        wait_result(app.AsyncResult(task_id), max(1.0, deadline - time.monotonic()))


def plain_workers(env: dict[str, str], app: str, queue: str) -> list[subprocess.Popen[bytes]]:
    """Workers of a bench app (``bench.noop_app``, ``bench.stub_app``) with the fleet's pool."""
    procs = []
    for i in range(PROCESSES):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue,
             "-P", "threads", "-c", str(CONCURRENCY), "-n", f"{app}{i}@%h",
             "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL))
    time.sleep(4)
    return procs


def baseline(env: dict[str, str], n: int) -> tuple[float, dict[str, float]]:
    """(tasks/s, CPU ms per task by process kind)."""
    from bench.noop_app import app

    procs = plain_workers(env, "bench.noop_app", "bench.noop")
    try:
        ids = [f"noop-{uuid.uuid4().hex[:12]}" for _ in range(n)]
        warm = [app.send_task("bench.noop", queue="bench.noop").id for _ in range(50)]
        wait_all(app, warm)
        cpu = CpuMeter([p.pid for p in procs], env["FLEET_REDIS_URL"])
        started = time.perf_counter()
        for task_id, i in zip(ids, range(n), strict=True):
            app.send_task("bench.noop", task_id=task_id, queue="bench.noop",
                          kwargs={"task": task_body(i)})
        wait_all(app, ids)
        return n / (time.perf_counter() - started), cpu.per_task_ms(n)
    finally:
        _stop(procs)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
        p.wait()


def fleet_run(env: dict[str, str], n: int, via: str) -> tuple[float, dict[str, float]]:
    """(tasks/s, CPU ms per task by process kind)."""
    from celery import Celery

    from fleet.dispatch.route import submit

    worker_env = env | {"FLEET_SIM_TTFT_MS": "0", "FLEET_SIM_TOKENS_PER_SECOND": "0",
                        "FLEET_SIM_OUTPUT_TOKENS": "16"}
    queues = ["model.claude-haiku-4"] + (["fleet.dispatch"] if via == "dispatch" else [])
    workers: list[WorkerProcess] = []
    stubs: list[subprocess.Popen[bytes]] = []
    if via == "ceiling":
        stubs = plain_workers(worker_env, "bench.stub_app", queues[0])
    else:
        workers = [WorkerProcess(queues, f"tp-{via}-{i}", worker_env, concurrency=CONCURRENCY)
                   for i in range(PROCESSES)]
    pids = [p.pid for p in stubs] + [w.pid for w in workers]
    client = Celery("bench", broker=env["FLEET_BROKER_URL"], backend=env["FLEET_REDIS_URL"])
    client.conf.update(task_serializer="json", accept_content=["json"])
    try:
        bodies = [task_body(i) for i in range(n + 50)]
        for body in bodies[:50]:
            submit(body)
        wait_all(client, [b["id"] for b in bodies[:50]])
        bodies = bodies[50:]
        cpu = CpuMeter(pids, env["FLEET_REDIS_URL"])
        started = time.perf_counter()
        for body in bodies:
            if via != "dispatch":
                submit(body)
            else:
                client.send_task("fleet.dispatch", queue="fleet.dispatch",
                                 kwargs={"task": body})
        wait_all(client, [b["id"] for b in bodies])
        return n / (time.perf_counter() - started), cpu.per_task_ms(n)
    finally:
        _stop(stubs)
        for w in workers:
            w.stop()


def run(n: int = 2000, rounds: int = 3) -> dict[str, Any]:
    """Medians over ``rounds`` rounds of bare → ceiling → submit → dispatch, the ratios taken
    per round: bare Celery alone on this 2-core box measured anything from 329 to 574 tasks/s
    in one afternoon, so a single pair says little."""
    paths = ("bare", "ceiling", "submit", "dispatch")
    rates: dict[str, list[float]] = {path: [] for path in paths}
    cpu: dict[str, list[dict[str, float]]] = {path: [] for path in paths}
    with bench_env({"routing.costTracking.budgetLimits.daily": 1_000_000}) as env:
        for _ in range(rounds):
            for path in rates:
                rate, used = baseline(env, n) if path == "bare" else fleet_run(env, n, path)
                rates[path].append(rate)
                cpu[path].append(used)

    def ratio(path: str) -> float:
        # Per round: the box's speed drifts between rounds more than within one.
        return statistics.median(f / b for f, b in zip(rates[path], rates["bare"], strict=True))

    median = {k: statistics.median(v) for k, v in rates.items()}
    return {"tasks": n, "rounds": rounds, "bare_celery_per_s": median["bare"],
            "submit_per_s": median["submit"], "submit_ratio": ratio("submit"),
            # fleet.submit into a fleet.execute that does nothing: what Celery's handling of
            # the fleet's messages leaves for the task's own work.
            "ceiling_per_s": median["ceiling"], "ceiling_ratio": ratio("ceiling"),
            "dispatch_per_s": median["dispatch"], "dispatch_ratio": ratio("dispatch"),
            **{f"{k}_rounds": [round(x) for x in v] for k, v in rates.items()},
            # CPU ms per task (medians over the rounds): the runs are CPU-bound, so this is
            # where the throughput goes.
            **{f"{k}_cpu_ms_per_task": {part: round(statistics.median(u[part] for u in v), 2)
                                        for part in v[0]} for k, v in cpu.items()}}


if __name__ == "__main__":
    print(json.dumps(run(*(int(a) for a in sys.argv[1:3])), default=lambda x: round(x, 3)))
