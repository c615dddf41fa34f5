"""Capacity under a realistic load: many long streams per worker process, against bare Celery.

Every task is timed like a real model (the simulated provider's ranges, drawn per task and
seeded by its id): time to first token 0.3-2 s, 30-90 tokens/s, 200-1,500 output tokens. Tasks
arrive at a fixed offered rate — the fleet's through ``fleet.dispatch``; the baseline's are a
hand-written Celery task (``bench.bare_stream_app``) on the same broker and settings that sleeps
the same time to first token and publishes each token to Redis pub/sub. One subscriber process
hears both and checks every stream (gap-free, one final event).

Per run: completions/s in the steady window against the offered rate; how much longer than its
simulated time each task took (lag); time-to-first-chunk overhead (event creation to arrival,
and submit to first chunk minus the simulated time to first token); peak RSS of the worker
process and per stream; CPU and context switches per task over every process involved (workers,
Redis, PostgreSQL); lost or doubled events.

Run: python -m bench.capacity [ab|streams|all] (``python -m bench capacity`` for the table).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import bench_env, median, percentile, process_cpu
from tests.harness import WorkerProcess
from workers.providers.simulated import parse_range, timing

QUEUE = "model.claude-haiku-4"
PROFILE = {"FLEET_SIM_TTFT_MS": "300-2000", "FLEET_SIM_TOKENS_PER_SECOND": "30-90",
           "FLEET_SIM_OUTPUT_TOKENS": "200-1500"}


@dataclass
class Stream:
    """What the subscriber saw of one task."""

    next_seq: int = 0
    bad: bool = False
    finals: int = 0
    first_chunk_at: float = 0.0  # arrival (epoch s)
    first_chunk_lag: float = 0.0  # arrival minus the event's own timestamp
    ended_at: float = 0.0


def listen(url: str, expected: int, ready: Any, out: Any, seconds: float) -> None:
    """Subscriber process: every event of both kinds of stream, checked as it arrives."""
    import redis

    pubsub = redis.Redis.from_url(url).pubsub(  # type: ignore[no-untyped-call]
        ignore_subscribe_messages=True)
    pubsub.psubscribe("fleet:stream:*", "bench:stream:*")
    ready.set()
    streams: dict[str, Stream] = {}
    ended, deadline = 0, time.monotonic() + seconds
    while ended < expected and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=1.0)
        if message is None:
            continue
        now = time.time()
        event = json.loads(message["data"])
        s = streams.setdefault(event["task_id"], Stream())
        if event["seq"] != s.next_seq:
            s.bad = True
        s.next_seq = event["seq"] + 1
        if event["type"] == "chunk" and not s.first_chunk_at:
            s.first_chunk_at, s.first_chunk_lag = now, now - event["ts"]
        elif event["type"] in ("complete", "error"):
            s.finals += 1
            s.ended_at = now
            s.bad |= event["type"] == "error"
            ended += 1
    cpu = os.times()
    out.put({"streams": {k: vars(v) for k, v in streams.items()},
             "cpu": cpu.user + cpu.system})


def _system_pids() -> dict[str, list[int]]:
    pids: dict[str, list[int]] = {"redis": [], "postgres": []}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            for key in pids:
                if name.startswith(key):
                    pids[key].append(int(entry.name))
    return pids


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            total += sum(process_cpu(pid))
    return total


def _switches(pid: int) -> int:
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches" in line:  # voluntary and not
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(kind: str, rate: float, seconds: float, concurrency: int) -> dict[str, Any]:
    """Offer ``rate`` tasks/s for ``seconds`` to one worker process of ``concurrency``
    threads (the fleet: plus its dispatcher), and measure until every task has ended.
    ``kind``: bare, fleet (streams read on the worker's event loop, the default) or
    fleet-threads (each in its task's thread)."""
    engine = "threads" if kind == "fleet-threads" else "asyncio"
    with bench_env({"streaming.engine": engine}) as env:
        worker_env = env | PROFILE
        workers: list[WorkerProcess] = []
        if kind.startswith("fleet"):
            workers.append(WorkerProcess(["fleet.dispatch"], "cap-dispatch", worker_env,
                                         concurrency=8))
            workers.append(WorkerProcess([QUEUE], "cap-streams", worker_env,
                                         concurrency=concurrency))
        else:
            workers.append(WorkerProcess(["bench.bare"], "cap-bare", worker_env,
                                         concurrency=concurrency, app="bench.bare_stream_app"))
        streamer = workers[-1]
        total = int(rate * seconds)
        ready = multiprocessing.Event()
        out: multiprocessing.Queue[dict[str, Any]] = multiprocessing.Queue()
        listener = multiprocessing.Process(target=listen, args=(
            env["FLEET_REDIS_URL"], total, ready, out, seconds + 180))
        listener.start()
        ready.wait(10)
        system = _system_pids()
        involved = [w.pid for w in workers] + system["redis"] + system["postgres"]
        parts = {"streams worker": [streamer.pid], "redis": system["redis"],
                 "postgres": system["postgres"]}
        parts_cpu0 = {name: _cpu(pids) for name, pids in parts.items()}
        cpu0, switches0 = _cpu(involved), sum(_switches(w.pid) for w in workers)
        rss0 = _rss_mb(streamer.pid)
        send = _sender(kind, env)
        submitted: dict[str, float] = {}
        started = time.monotonic()
        for i in range(total):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            task_id = f"cap-{i:06d}"  # the same tasks, timed alike, in every run
            submitted[task_id] = time.time()
            send(task_id)
        offered_for = time.monotonic() - started
        heard = out.get(timeout=seconds + 240)
        cpu_split = {name: round(_cpu(pids) - parts_cpu0[name], 1) for name, pids in parts.items()}
        cpu_split["subscriber"] = round(heard["cpu"], 1)
        streams = {k: Stream(**v) for k, v in heard["streams"].items()}
        listener.join(10)
        cpu = _cpu(involved) - cpu0
        switches = sum(_switches(w.pid) for w in workers) - switches0
        peak_rss = streamer.peak_rss_mb()
        for worker in reversed(workers):
            worker.stop()
    return summarise(kind, rate, seconds, offered_for, submitted, streams, cpu, switches,
                     peak_rss, rss0) | {"cpu_seconds": cpu_split}


def _sender(kind: str, env: dict[str, str]) -> Any:
    from celery import Celery

    app = Celery("capacity", broker=env["FLEET_BROKER_URL"])
    app.conf.update(task_serializer="json", accept_content=["json"])
    if kind == "bare":
        return lambda task_id: app.send_task("bench.stream", args=[task_id], queue="bench.bare")
    return lambda task_id: app.send_task("fleet.dispatch", queue="fleet.dispatch", kwargs={
        "task": {"id": task_id, "type": "general", "description": f"Explain {task_id}.",
                 "max_output_tokens": 2000, "preferred_model": "claude-haiku-4"}})


def summarise(kind: str, rate: float, seconds: float, offered_for: float,
              submitted: dict[str, float], streams: dict[str, Stream], cpu: float,
              switches: int, peak_rss: float, rss0: float) -> dict[str, Any]:
    ranges = [parse_range(raw, 0) for raw in PROFILE.values()]
    ended = [s for s in streams.values() if s.finals]
    start = min(submitted.values())
    # Completions in the second half of the offer, against how many would end there if every
    # task took exactly its simulated time (the same for every run: same tasks, same timing).
    window = (start + seconds / 2, start + seconds)
    in_window = sum(window[0] <= s.ended_at < window[1] for s in ended)
    ideal = 0
    lags, ttfc_event, ttfc_submit = [], [], []
    open_at: list[tuple[float, int]] = []
    for task_id, sent in submitted.items():
        s = streams.get(task_id)
        if s is None or not s.finals:
            continue
        t = timing(task_id, *ranges)
        simulated = t.ttft_s + t.output_tokens / t.tokens_per_second
        ideal += window[0] <= sent + simulated < window[1]
        lags.append(s.ended_at - sent - simulated)
        if s.first_chunk_at:
            ttfc_event.append(s.first_chunk_lag * 1000)
            ttfc_submit.append((s.first_chunk_at - sent - t.ttft_s) * 1000)
        open_at += [(sent, 1), (s.ended_at, -1)]
    concurrent = peak = 0
    for _, step in sorted(open_at):
        concurrent += step
        peak = max(peak, concurrent)
    done = len(ended)
    return {
        "kind": kind, "offered_per_s": rate, "offered_for_s": round(offered_for, 1),
        "tasks": len(submitted), "ended": done,
        "lost_or_doubled": sum(s.bad or s.finals != 1 for s in streams.values())
        + len(submitted) - len(streams),
        "completions_per_s": in_window / (window[1] - window[0]),
        "ideal_completions_per_s": ideal / (window[1] - window[0]),
        "lag_p50_s": median(lags), "lag_p99_s": percentile(lags, 0.99),
        "ttfc_event_p50_ms": median(ttfc_event), "ttfc_event_p99_ms": percentile(ttfc_event, 0.99),
        "ttfc_submit_p50_ms": median(ttfc_submit),
        "ttfc_submit_p99_ms": percentile(ttfc_submit, 0.99),
        "peak_streams": peak, "peak_rss_mb": peak_rss,
        "rss_per_stream_kb": (peak_rss - rss0) * 1024 / max(peak, 1),
        "cpu_ms_per_task": cpu * 1000 / max(done, 1),
        "switches_per_task": switches / max(done, 1)}


def ab(rate: float = 12, seconds: float = 60, concurrency: int = 1000) -> list[dict[str, Any]]:
    """Bare Celery and the fleet (both engines) at one offered rate, same worker count and
    threads."""
    return [run(kind, rate, seconds, concurrency) for kind in ("bare", "fleet", "fleet-threads")]


def streams(rate: float = 130, seconds: float = 20, concurrency: int = 2200,
            kind: str = "fleet") -> dict[str, Any]:
    """One fleet worker process offered enough to hold ~2,000 streams at once."""
    return run(kind, rate, seconds, concurrency)


if __name__ == "__main__":
    # python -m bench.capacity ab|streams [RATE SECONDS CONCURRENCY [KIND]] | all
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    rate, seconds, threads, kind = (sys.argv[2:6] + [None] * 4)[:4]
    given: dict[str, Any] = {k: v for k, v in (
        ("rate", rate and float(rate)), ("seconds", seconds and float(seconds)),
        ("concurrency", threads and int(threads)), ("kind", kind)) if v}
    results: list[dict[str, Any]] = []
    if which in ("ab", "all"):
        results += ab(**given)
    if which in ("streams", "all"):
        results.append(streams(**given))
    for r in results:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}),
              flush=True)
