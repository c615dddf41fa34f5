"""Routing quality: APGR of ``fleet routing score`` on the labelled dev split.

The dev split and its scorer live outside the project (``../shared/routing-dev``; its prompts
are never copied here).

``--against REV`` compares this tree's scores (or those of revision ``--of``) with those of
a git revision, the way a new signal is screened before it lands: APGR on the whole split, on
random halves (how many the change improves, the mean and the worst difference) and on
contiguous blocks of 4 and 8 (each file is in subject order, so a block stands for subjects
the rest does not cover). A change that helps only the whole split is fitted to it.

Run: python -m bench.routing_quality [--dev path/to/routing-dev]
        [--against REV [--of REV] [--halves N]]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import export

ROOT = Path(__file__).resolve().parent.parent
Rows = list[dict[str, Any]]
Metric = Callable[[Rows, list[float]], float]


def scores(tree: Path, rows: Rows) -> list[float]:
    """``fleet routing score`` of the code in ``tree`` on the rows' prompts."""
    payload = "".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in rows)
    env = os.environ | {"PYTHONPATH": str(tree)}  # ahead of the editable install's finder
    out = subprocess.run([sys.executable, "-m", "fleet.cli", "routing", "score"], cwd=tree,
                         env=env, input=payload, capture_output=True, text=True, check=True)
    return [float(x) for x in out.stdout.split()]


def compare(rows: Rows, before: list[float], after: list[float], apgr: Metric,
            halves: int) -> dict[str, Any]:
    def pick(idx: list[int]) -> tuple[float, float]:
        sub = [rows[i] for i in idx]
        return apgr(sub, [before[i] for i in idx]), apgr(sub, [after[i] for i in idx])

    n = len(rows)
    rng = random.Random(11)
    gains = [b - a for a, b in (pick(rng.sample(range(n), n // 2)) for _ in range(halves))]
    blocks = {k: [pick(list(range(i * n // k, (i + 1) * n // k))) for i in range(k)]
              for k in (4, 8)}
    return {"apgr": pick(list(range(n))), "halves_better": sum(g > 0 for g in gains),
            "halves": halves, "mean": statistics.mean(gains), "worst": min(gains),
            "blocks": blocks}


def report(name: str, result: dict[str, Any]) -> str:
    before, after = result["apgr"]
    lines = [f"{name}: APGR {before:.4f} -> {after:.4f}; better on {result['halves_better']} "
             f"of {result['halves']} random halves (mean {result['mean']:+.4f}, worst "
             f"{result['worst']:+.4f})"]
    for k, pairs in result["blocks"].items():
        better = sum(b > a for a, b in pairs)
        lines.append(f"  {k} blocks, {better} better: "
                     + ", ".join(f"{a:.4f} -> {b:.4f}" for a, b in pairs))
    return "\n".join(lines)


def apgr_of(dev: Path) -> Metric:
    spec = importlib.util.spec_from_file_location("routing_dev_apgr", dev / "apgr.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda rows, values: float(module.metrics(rows, values, reps=5)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=ROOT.parent / "shared" / "routing-dev")
    parser.add_argument("--against", metavar="REV")
    parser.add_argument("--of", metavar="REV", help="the revision compared (default: this tree)")
    parser.add_argument("--halves", type=int, default=40)
    args = parser.parse_args()
    scorer = args.dev / "apgr.py"
    if not scorer.exists():
        print(f"no routing dev split at {args.dev}; skipped")
        return 0
    if args.against is None:
        command = f"{sys.executable} -m fleet.cli routing score"
        return subprocess.call([sys.executable, str(scorer), command], cwd=ROOT)
    apgr = apgr_of(args.dev)
    with tempfile.TemporaryDirectory() as tmp:
        before = export(args.against, Path(tmp) / "before")
        after = ROOT if args.of is None else export(args.of, Path(tmp) / "after")
        for path in sorted(args.dev.glob("*_dev.jsonl")):
            rows = [json.loads(line) for line in path.open()]
            result = compare(rows, scores(before, rows), scores(after, rows), apgr,
                             args.halves)
            print(report(path.stem, result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
