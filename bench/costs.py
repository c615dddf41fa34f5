"""Cost benchmarks against real PostgreSQL.

* ingest: cost rows recorded per second through ``CostTracker.record`` — one row per call from
  16 threads (as worker threads finishing tasks do), and in batches of 100;
* aggregate: rolling 1,000,000 fresh cost rows into daily summaries (beat's job).

Run: python -m bench.costs [ingest|aggregate ...]
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable

from bench.common import bench_env


def ingest(seconds: float = 5.0, threads: int = 16) -> dict[str, float]:
    with bench_env():
        from fleet.contracts import TokenUsage
        from fleet.costs.tracker import cost_entry
        from fleet.services import get_services

        model = get_services().config.routing.models[0]
        tracker = get_services().costs

        def entry(i: int, n: int) -> object:
            return cost_entry(task_id=f"bench-{threading.get_ident()}-{i}", attempt=1,
                                 segment=n, model=model, task_type="general", agent_id="bench",
                                 usage=TokenUsage(input_tokens=1200, output_tokens=400))

        def run(batch: int, threads: int = threads) -> float:
            counts: list[int] = []
            stop = time.monotonic() + seconds

            def worker() -> None:
                n = 0
                while time.monotonic() < stop:
                    tracker.record([entry(n, k) for k in range(batch)])  # type: ignore[misc]
                    n += 1
                counts.append(n * batch)

            pool = [threading.Thread(target=worker) for _ in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            return sum(counts) / seconds

        return {"rows_per_s_one_per_call_16_threads": run(1),
                "rows_per_s_one_per_call_64_threads": run(1, 64),
                "rows_per_s_batch_100": run(100)}


def aggregate(rows: int = 1_000_000) -> dict[str, float]:
    with bench_env():
        from fleet.costs.rollup import aggregate_costs
        from fleet.services import get_services

        db = get_services().db
        aggregate_costs(db)
        with db.connection() as conn:
            conn.execute(
                """INSERT INTO cost_entries (task_id, attempt, model, provider, task_type,
                       agent_id, input_tokens, output_tokens, cost_usd, created_at)
                   SELECT 'agg-' || g, 1, (ARRAY['claude-haiku-4','claude-sonnet-4.5',
                          'claude-opus-4'])[1 + g %% 3], 'anthropic',
                          (ARRAY['test-generation','quality-gate','security-review',
                          'coverage-analysis'])[1 + g %% 4], 'agent-' || (g %% 50),
                          1000 + g %% 500, 300 + g %% 200, 0.001 + (g %% 100) / 100000.0,
                          now() - make_interval(days => g %% 30)
                   FROM generate_series(1, %s) AS g""", (rows,))
        started = time.perf_counter()
        groups = aggregate_costs(db)
        elapsed = time.perf_counter() - started
        with db.connection() as conn:
            summed = conn.execute("SELECT sum(requests) FROM daily_cost_summaries").fetchone()
        assert summed is not None and int(str(summed[0])) == rows
        return {"rows": rows, "seconds": elapsed, "groups": groups}


BENCHES: dict[str, Callable[[], dict[str, float]]] = {"ingest": ingest, "aggregate": aggregate}

if __name__ == "__main__":
    for name in sys.argv[1:] or list(BENCHES):
        print(name, json.dumps(BENCHES[name](), default=lambda x: round(x, 3)), flush=True)
