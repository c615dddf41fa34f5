"""Which signals earn their place on subjects they were not tuned on: each weight of
``routing.complexity`` set to zero in turn (in process, through the config), scored by APGR on
MMLU's contiguous subject blocks (the file is in subject order: a block stands for subjects the
others do not cover), on GSM8K, and against prompt length alone.

A signal is kept when removing it lowers APGR on most blocks and raises none by more than the
noise; one that helps only the whole split is fitted to it.

Run: python -m bench.routing_ablation [--dev path/to/routing-dev] [--blocks 8]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.routing_quality import ROOT, apgr_of
from fleet.cli.routing import task_from_line
from fleet.config import ComplexityWeights
from fleet.routing.complexity import ComplexityAnalyzer
from fleet.routing.tokens import estimate_tokens

Rows = list[dict[str, Any]]
KNOBS = ["signals." + name for name in type(ComplexityWeights().signals).model_fields] + [
    "length_damping", "blend.content"]


def weights_without(knob: str | None) -> ComplexityWeights:
    weights = ComplexityWeights()
    if knob is not None:
        section, _, name = knob.rpartition(".")
        setattr(getattr(weights, section) if section else weights, name, 0.0)
    return weights


def score_all(rows: Rows, weights: ComplexityWeights) -> list[float]:
    analyzer = ComplexityAnalyzer(weights)
    return [analyzer.analyze(task_from_line(json.dumps({"prompt": r["prompt"]}))).overall
            for r in rows]


def per_block(rows: Rows, values: list[float], blocks: int,
              apgr: Callable[[Rows, list[float]], float]) -> list[float]:
    n = len(rows)
    return [apgr(rows[i * n // blocks:(i + 1) * n // blocks],
                 values[i * n // blocks:(i + 1) * n // blocks]) for i in range(blocks)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=ROOT.parent / "shared" / "routing-dev")
    parser.add_argument("--blocks", type=int, default=8)
    args = parser.parse_args()
    if not (args.dev / "apgr.py").exists():
        print(f"no routing dev split at {args.dev}; skipped")
        return 0
    apgr = apgr_of(args.dev)
    mmlu = [json.loads(line) for line in (args.dev / "mmlu_dev.jsonl").open()]
    gsm8k = [json.loads(line) for line in (args.dev / "gsm8k_dev.jsonl").open()]
    length = per_block(mmlu, [float(estimate_tokens(r["prompt"])) for r in mmlu], args.blocks,
                       apgr)
    base_values = score_all(mmlu, weights_without(None))
    base = per_block(mmlu, base_values, args.blocks, apgr)
    base_gsm = apgr(gsm8k, score_all(gsm8k, weights_without(None)))
    print(f"MMLU blocks, length alone: {' '.join(f'{x:.3f}' for x in length)}")
    print(f"MMLU blocks, the score:    {' '.join(f'{x:.3f}' for x in base)}   "
          f"(whole {apgr(mmlu, base_values):.4f}; GSM8K {base_gsm:.4f})")
    print("without <knob>: blocks it helps (its removal lowers APGR) / hurts, worst, GSM8K Δ")
    deltas_by_knob: dict[str, list[float]] = {}
    for knob in KNOBS:
        weights = weights_without(knob)
        blocks = per_block(mmlu, score_all(mmlu, weights), args.blocks, apgr)
        deltas = [b - a for a, b in zip(base, blocks, strict=True)]
        deltas_by_knob[knob] = deltas
        gsm = apgr(gsm8k, score_all(gsm8k, weights)) - base_gsm
        helps = sum(d < -0.001 for d in deltas)
        hurts = sum(d > 0.001 for d in deltas)
        print(f"  {knob:<28} helps {helps}/{args.blocks}, hurts {hurts}/{args.blocks}, "
              f"removing it at best {max(deltas):+.4f}, GSM8K {gsm:+.4f}")
    # Leave one block out: keep the signals that help on most of the other blocks, then score
    # the held-out block with only those. This estimates the selection rule on unseen subjects.
    print("leave one block out: held-out APGR of the signals chosen on the others "
          "(all signals / length alone)")
    for held in range(args.blocks):
        dropped = [k for k, d in deltas_by_knob.items()
                   if sum(x < -0.001 for i, x in enumerate(d) if i != held)
                   <= (args.blocks - 1) // 2]
        weights = ComplexityWeights()
        for knob in dropped:
            section, _, name = knob.rpartition(".")
            setattr(getattr(weights, section) if section else weights, name, 0.0)
        chosen = per_block(mmlu, score_all(mmlu, weights), args.blocks, apgr)[held]
        print(f"  block {held}: {chosen:.3f} ({base[held]:.3f} / {length[held]:.3f}); "
              f"dropped {', '.join(k.split('.')[-1] for k in dropped) or 'none'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
