"""Run every benchmark and print one markdown table (``make bench`` / ``fleet bench``).

Each row measures its baseline in the same run on the same machine where there is one.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import capacity, costs, dispatch, routing_latency, streaming, verify

Row = tuple[str, str, str, str, bool | None]  # met: None when the row has no target


def _routing() -> list[Row]:
    r = routing_latency.run(2000)
    small, large, largest = list(r.values())
    score = routing_latency.score_command()
    return [
        ("routing decision, small task", f"p50 {small['p50_ms']:.3f} ms, p99 "
         f"{small['p99_ms']:.3f} ms", "p99 ≤ 1 ms", "—", small["p99_ms"] <= 1),
        ("routing decision, 8k-token code task", f"p50 {large['p50_ms']:.3f} ms, p99 "
         f"{large['p99_ms']:.3f} ms", "p99 ≤ 1 ms", "—", large["p99_ms"] <= 1),
        ("routing decision, 1 MiB code task (largest payload)", f"p50 {largest['p50_ms']:.3f} "
         f"ms, p99 {largest['p99_ms']:.3f} ms", "—", "—", None),
        (f"`fleet routing score`, chat-sized prompt ({score['mean_chars']:.0f} chars)",
         f"{score['us_per_prompt']:.0f} µs per prompt", "≤ 200 µs", "—",
         score["us_per_prompt"] <= 200),
    ]


def _relay() -> list[Row]:
    r = streaming.relay()
    return [("chunk relay worker → subscriber", f"{r['chunks_per_s']:,.0f} chunks/s "
             f"({r['bad_streams']} bad streams)", "≥ 20,000/s",
             f"redis-benchmark PUBLISH {r['redis_benchmark_publish_per_s']:,.0f}/s "
             f"(ratio {r['chunks_per_s'] / r['redis_benchmark_publish_per_s']:.2f})",
             r["chunks_per_s"] >= 20_000 and r["bad_streams"] == 0)]


def _ttfc() -> list[Row]:
    r = streaming.ttfc()
    return [("time-to-first-chunk overhead", f"p50 {r['p50_ms']:.2f} ms, p99 "
             f"{r['p99_ms']:.2f} ms", "p99 ≤ 10 ms", "—",
             r["p99_ms"] <= 10 and r["bad_streams"] == 0)]


def _concurrent() -> list[Row]:
    r = streaming.concurrent()
    return [("concurrent streams, one worker process", f"{r['peak_concurrent']} at once, "
             f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['bad_streams']} bad streams",
             "≥ 500, ≤ 300 MB", "—",
             r["peak_concurrent"] >= 500 and r["peak_rss_mb"] <= 300
             and r["bad_streams"] == 0)]


def _costs() -> list[Row]:
    i = costs.ingest()
    a = costs.aggregate()
    return [
        ("cost rows recorded", f"{i['rows_per_s_one_per_call_16_threads']:,.0f}/s one per "
         f"call (16 threads), {i['rows_per_s_one_per_call_64_threads']:,.0f}/s (64), "
         f"{i['rows_per_s_batch_100']:,.0f}/s in batches", "≥ 5,000/s", "—",
         max(i.values()) >= 5000),
        ("aggregate 1,000,000 cost rows", f"{a['seconds']:.2f} s", "≤ 5 s", "—",
         a["seconds"] <= 5),
    ]


def _dispatch() -> list[Row]:
    r = dispatch.run(1000)
    base = (f"bare Celery no-op {r['bare_celery_per_s']:.0f} tasks/s, medians of "
            f"{r['rounds']} alternating rounds")
    return [
        ("dispatch throughput, fleet.submit (1 hop)", f"{r['submit_per_s']:.0f} tasks/s",
         "≥ 0.9 x bare", f"{base} (per-round ratio {r['submit_ratio']:.2f})",
         r["submit_ratio"] >= 0.9),
        ("ceiling: fleet.submit into a no-op fleet.execute", f"{r['ceiling_per_s']:.0f} tasks/s",
         "—", f"{base} (per-round ratio {r['ceiling_ratio']:.2f})", None),
        ("dispatch throughput, fleet.dispatch (2 hops)", f"{r['dispatch_per_s']:.0f} tasks/s",
         "≥ 0.45 x bare", f"{base} (per-round ratio {r['dispatch_ratio']:.2f})",
         r["dispatch_ratio"] >= 0.45),
    ]


def _verify() -> list[Row]:
    r = verify.run(20)
    return [("generated tests run in the sandbox (example project)",
             f"p50 {r['sandboxed_p50_s']:.2f} s", "—",
             f"the same commands unsandboxed p50 {r['plain_p50_s']:.2f} s "
             f"(per-round ratio {r['ratio']:.2f})", None)]


def _capacity() -> list[Row]:
    bare, fleet, threads = capacity.ab()
    big = capacity.streams()

    def rate(r: dict[str, Any]) -> str:
        return f"{r['completions_per_s']:.1f}/s"

    offered = (f"offered {bare['offered_per_s']:.0f} tasks/s for {bare['offered_for_s']:.0f} s, "
               f"1 worker process x 1,000 threads; ideal {bare['ideal_completions_per_s']:.1f}/s")
    return [
        ("capacity: concurrent streams in one worker process (0.3-2 s to first token, "
         "30-90 tokens/s, 200-1,500 tokens)",
         f"{big['peak_streams']:,} at once, {big['ended']:,} of {big['tasks']:,} ended, "
         f"{big['lost_or_doubled']} lost or doubled, peak RSS {big['peak_rss_mb']:.0f} MB "
         f"({big['rss_per_stream_kb']:.0f} KB a stream), first-chunk overhead p99 "
         f"{big['ttfc_event_p99_ms']:.0f} ms",
         "2,000, ≤ 600 MB, p99 ≤ 50 ms, 0 lost",
         f"offered {big['offered_per_s']:.0f} tasks/s for {big['offered_for_s']:.0f} s",
         big["peak_streams"] >= 2000 and big["peak_rss_mb"] <= 600
         and big["ttfc_event_p99_ms"] <= 50 and big["lost_or_doubled"] == 0),
        ("capacity: completions/s at a load bare Celery sustains",
         f"fleet {rate(fleet)} (threads engine {rate(threads)}), first-chunk overhead p99 "
         f"{fleet['ttfc_submit_p99_ms']:.0f} ms, {fleet['lost_or_doubled']} lost",
         "≥ 0.95 x bare", f"bare Celery {rate(bare)}; {offered}",
         fleet["completions_per_s"] >= 0.95 * bare["completions_per_s"]),
        ("capacity: CPU per task, every process", f"fleet {fleet['cpu_ms_per_task']:.0f} ms, "
         f"{fleet['switches_per_task']:.0f} context switches (threads engine "
         f"{threads['cpu_ms_per_task']:.0f} ms, {threads['switches_per_task']:.0f})",
         "≤ 2 x bare", f"bare Celery streamer {bare['cpu_ms_per_task']:.0f} ms, "
         f"{bare['switches_per_task']:.0f} switches",
         fleet["cpu_ms_per_task"] <= 2 * bare["cpu_ms_per_task"]),
    ]


BENCHES: dict[str, Callable[[], list[Row]]] = {
    "routing": _routing, "relay": _relay, "ttfc": _ttfc, "concurrent": _concurrent,
    "costs": _costs, "dispatch": _dispatch, "verify": _verify, "capacity": _capacity}


def main(names: list[str]) -> int:
    rows: list[Row] = []
    for name in names or list(BENCHES):
        started = time.monotonic()
        rows += BENCHES[name]()
        print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, "
          f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}\n")
    print("| benchmark | result | target | baseline, same run | met |")
    print("|---|---|---|---|---|")
    for name, result, target, baseline, met in rows:
        verdict = "—" if met is None else "yes" if met else "no"
        print(f"| {name} | {result} | {target} | {baseline} | {verdict} |")
    print(json.dumps({"unmet": [r[0] for r in rows if r[4] is False]}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
