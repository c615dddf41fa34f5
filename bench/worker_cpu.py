"""Worker CPU per task, draining a full queue and fed live: what contention does to it.

One worker process (8 threads) of the fleet (``fleet.execute``, simulated provider with zero
latency) and one of bare Celery running a no-op, each run twice on the same tasks' messages:

* **drain** — every message is queued while the worker consumes another queue; it is then
  told to consume theirs (``add_consumer``), and its CPU is read until the last result;
* **live** — the worker consumes from the start and the messages arrive as this process sends
  them, the two sharing the box's cores as in ``bench.dispatch``.

CPU is the worker process's utime + stime from ``/proc`` (all its threads). The fleet's work
per task is the fleet's CPU over bare Celery's in the same mode.

``attribution`` drains the same way through workers that each leave something out: the stub
of ``bench.stub_app`` (the fleet's Celery settings and messages, a ``fleet.execute`` that does
nothing) and the fleet with the streaming flag off.

``switches`` drains bare Celery (8 threads) and the fleet (8 and 2 threads) and splits the
worker's CPU into user and kernel time with its context switches, all per task and over all
its threads (``/proc/<pid>/task/*``): how much of the fleet's cost is threads waiting.

``against REV`` drains a fleet worker running the files of git revision ``REV`` and one
running this tree, alternately, round after round: an A/B of a change to the worker's path.

Run: python -m bench.worker_cpu [tasks] [attribution|switches|against REV [rounds]]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import bench_env, export, process_cpu
from bench.dispatch import CONCURRENCY, task_body, wait_all
from tests.harness import ROOT, WorkerProcess

IDLE_QUEUE = "bench.idle"


class ThreadMeter:
    """User and kernel CPU and context switches of one process, all its threads, per task."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self._read()

    def _read(self) -> tuple[float, float, int]:
        switches = 0
        for status in Path(f"/proc/{self.pid}/task").glob("*/status"):
            try:  # voluntary_ctxt_switches and nonvoluntary_ctxt_switches
                switches += sum(int(line.split()[1]) for line in status.read_text().splitlines()
                                if "ctxt_switches:" in line)
            except OSError:  # a thread that ended meanwhile
                continue
        return (*process_cpu(self.pid), switches)

    def per_task(self, n: int) -> dict[str, float]:
        end = self._read()
        return {"user_ms": (end[0] - self.start[0]) * 1000 / n,
                "system_ms": (end[1] - self.start[1]) * 1000 / n,
                "switches": (end[2] - self.start[2]) / n}


def _consume(app: Any, worker: str, queue: str) -> None:
    reply = app.control.add_consumer(queue, destination=[worker], reply=True, timeout=10)
    if not reply:
        raise RuntimeError(f"{worker} did not take queue {queue}")


def _measure(app: Any, worker: str, pid: int, queue: str,
             send: Callable[[], list[str]], live: bool) -> dict[str, float]:
    """Per task of the worker process ``pid``: CPU ms (``cpu_ms``), its user and system
    parts and the context switches of all its threads."""
    if live:
        _consume(app, worker, queue)
        meter = ThreadMeter(pid)
        ids = send()
    else:
        ids = send()
        meter = ThreadMeter(pid)
        _consume(app, worker, queue)
    wait_all(app, ids)
    used = meter.per_task(len(ids))
    return {"cpu_ms": used["user_ms"] + used["system_ms"], **used}


def _client(env: dict[str, str]) -> Any:
    from celery import Celery

    app = Celery("bench", broker=env["FLEET_BROKER_URL"], backend=env["FLEET_REDIS_URL"])
    app.conf.update(task_serializer="json", accept_content=["json"])
    return app


def _submit_all(n: int) -> list[str]:
    """``n`` tasks through ``fleet.submit`` (routed here, one execute message each)."""
    from fleet.dispatch.route import submit

    bodies = [task_body(i) for i in range(n)]
    for body in bodies:
        submit(body)
    return [b["id"] for b in bodies]


def fleet_cpu(env: dict[str, str], n: int, live: bool, threads: int = CONCURRENCY,
              tree: Path = ROOT) -> dict[str, float]:
    """``tree``: the fleet code the worker runs (this tree, or a revision's for an A/B)."""
    worker_env = env | {"FLEET_SIM_TTFT_MS": "0", "FLEET_SIM_TOKENS_PER_SECOND": "0",
                        "FLEET_SIM_OUTPUT_TOKENS": "16"}
    name = f"cpu-fleet-{uuid.uuid4().hex[:6]}"
    worker = WorkerProcess([IDLE_QUEUE], name, worker_env, concurrency=threads, tree=tree)
    try:
        return _measure(_client(env), f"{name}@{os.uname().nodename}", worker.pid,
                        "model.claude-haiku-4", lambda: _submit_all(n), live)
    finally:
        worker.stop()


def bare_cpu(env: dict[str, str], n: int, live: bool) -> dict[str, float]:
    from bench.noop_app import app

    def send() -> list[str]:
        ids = [f"noop-{uuid.uuid4().hex[:12]}" for _ in range(n)]
        for i, task_id in enumerate(ids):
            app.send_task("bench.noop", task_id=task_id, queue="bench.noop",
                          kwargs={"task": task_body(i)})
        return ids

    return _plain_worker_cpu(env, "bench.noop_app", app, "bench.noop", send, live)


def stub_cpu(env: dict[str, str], n: int) -> dict[str, float]:
    """Draining ``fleet.submit`` messages through ``bench.stub_app``'s no-op ``fleet.execute``."""
    return _plain_worker_cpu(env, "bench.stub_app", _client(env), "model.claude-haiku-4",
                             lambda: _submit_all(n), False)


def _plain_worker_cpu(env: dict[str, str], module: str, app: Any, queue: str,
                      send: Callable[[], list[str]], live: bool) -> dict[str, float]:
    name = f"cpu-{module.rsplit('.', 1)[-1]}-{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", module, "worker", "-Q", IDLE_QUEUE,
         "-P", "threads", "-c", str(CONCURRENCY), "-n", f"{name}@%h", "--without-mingle",
         "--without-gossip"], cwd=ROOT, env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)
        return _measure(app, f"{name}@{os.uname().nodename}", proc.pid, queue, send, live)
    finally:
        proc.terminate()
        proc.wait()


def attribution(n: int = 1500, rounds: int = 3) -> dict[str, float]:
    """Drain-mode CPU ms per task of workers that each leave part of the fleet's work out;
    medians over ``rounds`` interleaved rounds (the box's speed drifts between runs)."""
    runs: dict[str, list[float]] = {}
    for _ in range(rounds):
        with bench_env({"routing.costTracking.budgetLimits.daily": 1_000_000}) as env:
            runs.setdefault("bare", []).append(bare_cpu(env, n, False)["cpu_ms"])
            runs.setdefault("stub", []).append(stub_cpu(env, n)["cpu_ms"])
            runs.setdefault("fleet", []).append(fleet_cpu(env, n, False)["cpu_ms"])
            runs.setdefault("fleet_streaming_off", []).append(
                fleet_cpu(env | {"FEATURE_STREAMING": "false"}, n, False)["cpu_ms"])
    return {name: statistics.median(values) for name, values in runs.items()}


def run(n: int = 1500) -> dict[str, float]:
    out: dict[str, float] = {}
    with bench_env({"routing.costTracking.budgetLimits.daily": 1_000_000}) as env:
        for mode, live in (("drain", False), ("live", True)):
            out[f"bare_{mode}_ms"] = bare_cpu(env, n, live)["cpu_ms"]
            out[f"fleet_{mode}_ms"] = fleet_cpu(env, n, live)["cpu_ms"]
            out[f"ratio_{mode}"] = out[f"fleet_{mode}_ms"] / out[f"bare_{mode}_ms"]
    return out


def switches(n: int = 2000, rounds: int = 2) -> dict[str, dict[str, float]]:
    """Drain-mode user / system CPU and context switches per task, the rounds interleaved;
    each figure is given as its range over the rounds."""
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(rounds):
        with bench_env({"routing.costTracking.budgetLimits.daily": 1_000_000}) as env:
            runs.setdefault("bare_8_threads", []).append(bare_cpu(env, n, False))
            runs.setdefault("fleet_8_threads", []).append(fleet_cpu(env, n, False))
            runs.setdefault("fleet_2_threads", []).append(fleet_cpu(env, n, False, threads=2))
    return {name: {f"{key}_{end}": round(pick(r[key] for r in readings), 3)
                   for key in readings[0] for end, pick in (("min", min), ("max", max))}
            for name, readings in runs.items()}


def against(n: int, revision: str, rounds: int = 6) -> dict[str, Any]:
    """Drain-mode CPU, system CPU and context switches per task of a fleet worker running
    ``revision`` and one running this tree, interleaved round by round (the box's speed
    drifts between runs by more than small changes save): medians, and the rounds in which
    this tree used less CPU."""
    runs: dict[str, list[dict[str, float]]] = {"revision": [], "tree": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"revision": export(revision, Path(tmp) / "revision"), "tree": ROOT}
        for _ in range(rounds):
            with bench_env({"routing.costTracking.budgetLimits.daily": 1_000_000}) as env:
                for side, tree in trees.items():
                    runs[side].append(fleet_cpu(env, n, False, tree=tree))
    medians = {side: {key: round(statistics.median(r[key] for r in readings), 3)
                      for key in ("cpu_ms", "system_ms", "switches")}
               for side, readings in runs.items()}
    better = sum(t["cpu_ms"] < r["cpu_ms"]
                 for r, t in zip(runs["revision"], runs["tree"], strict=True))
    return {"revision": revision, "tasks": n, **medians,
            "tree_cpu_lower_in_rounds": f"{better} of {rounds}",
            "cpu_ms_rounds": {side: [round(r["cpu_ms"], 2) for r in readings]
                              for side, readings in runs.items()}}


if __name__ == "__main__":
    tasks = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    if mode == "against":  # python -m bench.worker_cpu TASKS against REV [ROUNDS]
        result = against(tasks, sys.argv[3], *(int(a) for a in sys.argv[4:5]))
    else:
        modes: dict[str, Callable[[int], Any]] = {"attribution": attribution,
                                                  "switches": switches}
        result = modes.get(mode, run)(tasks)
    print(json.dumps(result, default=lambda x: round(x, 3)))
