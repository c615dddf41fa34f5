"""Routing decision latency: ComplexityAnalyzer + ModelRouter.select_model, in process.

Measures p50 / p99 over many distinct tasks (so no cache can help) for a small task and for a
task carrying ~8k tokens of code (target: p99 <= 1 ms); and ``fleet routing score`` on
chat-sized prompts (40-80 words of English prose), per prompt excluding start-up: the time for
N prompts minus the time for one, over N - 1 (target: <= 200 us). Run:
python -m bench.routing_latency
"""

from __future__ import annotations

import contextlib
import inspect
import json
import random
import statistics
import subprocess
import sys
import time

import fakeredis

from fleet.config import load_config
from fleet.contracts import QETask
from fleet.errors import ModelSelectionFailed
from fleet.routing.flags import FeatureFlagManager
from fleet.routing.registry import ModelRegistry
from fleet.routing.router import ModelRouter
from fleet.routing.tokens import estimate_tokens


def code_of_tokens(target: int) -> str:
    import celery.worker.consumer.consumer as module

    source = inspect.getsource(module)
    while estimate_tokens(source) < target:
        source += source
    lines = source.splitlines(keepends=True)
    out: list[str] = []
    for line in lines:
        out.append(line)
        if estimate_tokens("".join(out)) >= target:
            break
    return "".join(out)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def decide(router: ModelRouter, task: QETask) -> None:
    """One routing decision: a model, or the refusal of a task no model can hold."""
    with contextlib.suppress(ModelSelectionFailed):
        router.select_model(task)


def measure(router: ModelRouter, tasks: list[QETask]) -> dict[str, float]:
    for task in tasks[:50]:
        decide(router, task)  # warm-up
    samples = []
    for task in tasks:
        started = time.perf_counter()
        decide(router, task)
        samples.append((time.perf_counter() - started) * 1e3)
    return {"p50_ms": statistics.median(samples), "p99_ms": percentile(samples, 0.99),
            "max_ms": max(samples), "n": len(samples)}


def chat_prompts(n: int, seed: int = 7) -> list[str]:
    """Prose of chat size from the standard library's docstrings (no benchmark set's text)."""
    import argparse
    import asyncio
    import email
    import logging
    import unittest

    words: list[str] = []
    for module in (argparse, asyncio, email, logging, unittest, json, random, statistics):
        for _, obj in inspect.getmembers(module):
            words += (inspect.getdoc(obj) or "").split()
    rng = random.Random(seed)
    prompts: list[str] = []
    while len(prompts) < n:
        start, length = rng.randrange(len(words) - 80), rng.randint(40, 80)
        prompts.append(" ".join(words[start:start + length]))
    return prompts


def score_command(n: int = 2000, rounds: int = 3) -> dict[str, float]:
    """``fleet routing score`` per prompt, start-up excluded (best of ``rounds``)."""
    prompts = chat_prompts(n)
    lines = "".join(json.dumps({"prompt": p}) + "\n" for p in prompts)
    command = [sys.executable, "-m", "fleet.cli", "routing", "score"]

    def seconds(data: str) -> float:
        started = time.perf_counter()
        done = subprocess.run(command, input=data, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
        assert len(done.stdout.splitlines()) == data.count("\n")
        return elapsed

    per_prompt = min((seconds(lines) - seconds(lines.split("\n", 1)[0] + "\n")) / (n - 1)
                     for _ in range(rounds))
    return {"us_per_prompt": per_prompt * 1e6, "n": n,
            "mean_chars": statistics.fmean(len(p) for p in prompts)}


def run(n: int = 2000) -> dict[str, dict[str, float]]:
    config = load_config(environ={"FEATURE_MULTI_MODEL_ROUTER": "true",
                                  "FEATURE_STREAMING": "true"})
    client = fakeredis.FakeRedis()
    router = ModelRouter(config, ModelRegistry.from_config(config, client),
                         flags=FeatureFlagManager(config, client))
    big = code_of_tokens(8000)
    small = [QETask(type="test-generation", description=f"Write tests for add() variant {i}",
                    code=f"def add_{i}(a, b):\n    return a + b\n") for i in range(n)]
    large = [QETask(type="security-review",
                    description=f"Review revision {i} for race conditions and injection.",
                    code=f"# revision {i}\n" + big) for i in range(n // 4)]
    # The largest payload accepted (1 MiB of code): sampled, it should cost what 8k tokens do.
    huge = big * (config.fleet.max_payload_bytes // len(big.encode()))
    largest = [QETask(type="security-review", description=f"Review build {i}.",
                      code=f"# build {i}\n" + huge) for i in range(60)]
    return {"small task": measure(router, small),
            f"{estimate_tokens(big)}-token code task": measure(router, large),
            f"{len(huge.encode()) // 1024} KiB code task": measure(router, largest)}


if __name__ == "__main__":
    results = run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
    print("| task | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['n']:.0f} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | "
              f"{r['max_ms']:.3f} |")
    score = score_command()
    print(f"| fleet routing score, chat-sized prompt ({score['mean_chars']:.0f} chars) | "
          f"{score['n']:.0f} | {score['us_per_prompt']:.0f} us per prompt | | |")
    print(json.dumps({**results, "routing score": score}), file=sys.stderr)
