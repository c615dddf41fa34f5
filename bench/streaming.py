"""Streaming benchmarks through a real worker process and real subscribers.

* relay: chunks/s from a worker's tasks to a pattern subscriber (every token its own chunk),
  against ``redis-benchmark``'s PUBLISH rate on the same box;
* ttfc: fleet overhead on time to first chunk — the chunk event's creation time (right after
  the provider's first token) to its arrival at a subscriber, p50 / p99;
* concurrent: how many simulated streams one worker process holds at once, its peak RSS, and
  whether every event of every stream arrived (seq gap-free, one final event).

Run: python -m bench.streaming [relay|ttfc|concurrent ...]
"""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import redis
from celery import Celery

from bench.common import bench_env, median, percentile
from tests.harness import WorkerProcess

QUEUE = "model.claude-haiku-4"


def client_for(env: dict[str, str]) -> Celery:
    app = Celery("bench", broker=env["FLEET_BROKER_URL"], backend=env["FLEET_REDIS_URL"])
    app.conf.update(task_serializer="json", accept_content=["json"])
    return app


class PatternSubscriber(threading.Thread):
    """Receives every fleet stream event (PSUBSCRIBE fleet:stream:*) and records arrivals."""

    def __init__(self, url: str, expected_finals: int) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.psubscribe("fleet:stream:*")
        self.expected = expected_finals
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.done = threading.Event()

    def run(self) -> None:
        gc.disable()  # a full collection in this process would be charged to the fleet
        finals = 0
        while finals < self.expected:
            message = self.pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            event = json.loads(message["data"])
            self.events.append((time.time(), event))
            if event["type"] in ("complete", "error"):
                finals += 1
        gc.enable()
        self.done.set()


def submit(app: Celery, n: int, tokens: int, prefix: str) -> list[str]:
    ids = []
    for i in range(n):
        task_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
        ids.append(task_id)
        app.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={"task": {
            "id": task_id, "type": "quality-gate", "description": f"Gate build {i}: PASS?",
            "max_output_tokens": tokens, "preferred_model": "claude-haiku-4"}})
    return ids


def check_streams(events: list[dict[str, Any]], ids: list[str]) -> int:
    """How many streams arrived incomplete or out of order (should be 0)."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_task.setdefault(event["task_id"], []).append(event)
    bad = 0
    for task_id in ids:
        stream = by_task.get(task_id, [])
        seqs = [e["seq"] for e in stream]
        finals = sum(e["type"] in ("complete", "error") for e in stream)
        if seqs != list(range(len(seqs))) or finals != 1 or stream[-1]["type"] != "complete":
            bad += 1
    return bad


def redis_benchmark_publish() -> float:
    """Redis's own PUBLISH rate here (50 clients, 100-byte messages): the ceiling to compare."""
    out = subprocess.run(["redis-benchmark", "-q", "-n", "200000", "publish", "bench:chan",
                          "x" * 100], capture_output=True, text=True, timeout=120).stdout
    match = re.search(r"([\d.]+) requests per second", out.replace("\r", "\n"))
    return float(match.group(1)) if match else float("nan")


def relay(tasks: int = 40, tokens: int = 5000) -> dict[str, float]:
    overrides = {"streaming.flushChars": 1, "streaming.flushMs": 0}
    with bench_env(overrides) as env:
        worker_env = env | {"FLEET_SIM_TTFT_MS": "0", "FLEET_SIM_TOKENS_PER_SECOND": "0",
                            "FLEET_SIM_OUTPUT_TOKENS": str(tokens)}
        workers = [WorkerProcess(["fleet.dispatch", QUEUE], f"bench-relay-{i}", worker_env,
                                 concurrency=8) for i in range(1)]
        try:
            subscriber = PatternSubscriber(env["FLEET_REDIS_URL"], tasks)
            subscriber.start()
            ids = submit(client_for(env), tasks, tokens, "relay")
            subscriber.done.wait(300)
        finally:
            for w in workers:
                w.stop()
        chunks = [(t, e) for t, e in subscriber.events if e["type"] == "chunk"]
        elapsed = chunks[-1][0] - chunks[0][0]
        return {"chunks": len(chunks), "seconds": elapsed, "chunks_per_s": len(chunks) / elapsed,
                "bad_streams": check_streams([e for _, e in subscriber.events], ids),
                "redis_benchmark_publish_per_s": redis_benchmark_publish()}


def ttfc(tasks: int = 400, concurrency: int = 16) -> dict[str, float]:
    with bench_env() as env:
        worker_env = env | {"FLEET_SIM_TTFT_MS": "20", "FLEET_SIM_TOKENS_PER_SECOND": "200",
                            "FLEET_SIM_OUTPUT_TOKENS": "20"}
        worker = WorkerProcess(["fleet.dispatch", QUEUE], "bench-ttfc", worker_env,
                               concurrency=concurrency)
        try:
            subscriber = PatternSubscriber(env["FLEET_REDIS_URL"], tasks)
            subscriber.start()
            app = client_for(env)
            ids = []
            for _ in range(tasks // 20):  # steady load, not one burst
                ids += submit(app, 20, 20, "ttfc")
                time.sleep(0.1)
            subscriber.done.wait(300)
        finally:
            worker.stop()
        first: dict[str, float] = {}
        for received, event in subscriber.events:
            if event["type"] == "chunk" and event["task_id"] not in first:
                first[event["task_id"]] = (received - event["ts"]) * 1000
        overhead = list(first.values())
        return {"streams": len(overhead), "p50_ms": median(overhead),
                "p99_ms": percentile(overhead, 0.99), "max_ms": max(overhead),
                "bad_streams": check_streams([e for _, e in subscriber.events], ids)}


def concurrent(streams: int = 500, seconds: float = 8.0) -> dict[str, float]:
    tokens = 200
    with bench_env() as env:
        worker_env = env | {"FLEET_SIM_TTFT_MS": "500",
                            "FLEET_SIM_TOKENS_PER_SECOND": str(tokens / seconds),
                            "FLEET_SIM_OUTPUT_TOKENS": str(tokens)}
        dispatcher = WorkerProcess(["fleet.dispatch"], "bench-dispatch", worker_env,
                                   concurrency=8)
        worker = WorkerProcess([QUEUE], "bench-streams", worker_env, concurrency=streams + 12)
        try:
            subscriber = PatternSubscriber(env["FLEET_REDIS_URL"], streams)
            subscriber.start()
            ids = submit(client_for(env), streams, tokens, "conc")
            subscriber.done.wait(600)
            rss = worker.peak_rss_mb()
        finally:
            worker.stop()
            dispatcher.stop()
        open_now, peak = 0, 0
        for _, event in sorted(subscriber.events, key=lambda x: x[1]["ts"]):
            if event["type"] == "start":
                open_now += 1
                peak = max(peak, open_now)
            elif event["type"] in ("complete", "error"):
                open_now -= 1
        return {"streams": streams, "peak_concurrent": peak, "peak_rss_mb": rss,
                "events": len(subscriber.events),
                "bad_streams": check_streams([e for _, e in subscriber.events], ids)}


BENCHES = {"relay": relay, "ttfc": ttfc, "concurrent": concurrent}


if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHES):
        started = time.monotonic()
        print(name, json.dumps(BENCHES[name](), default=lambda x: round(x, 3)),
              f"({time.monotonic() - started:.0f}s)", flush=True)
