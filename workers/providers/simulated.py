"""Simulated provider: offline, deterministic, timed like a real streaming API.

Time to first token, tokens per second and output length come from ``FLEET_SIM_TTFT_MS``,
``FLEET_SIM_TOKENS_PER_SECOND`` and ``FLEET_SIM_OUTPUT_TOKENS`` (0 = use the task's
max_output_tokens, capped at 400). A task type that asks for a structured result gets one at
the end (``workers.providers.simulated_results``). The text depends only on the task id and
prompt, and usage is reported like a real API (input estimated from the prompt, output = tokens
emitted).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from fleet.contracts import TokenUsage
from fleet.routing.tokens import estimate_tokens
from workers.providers.base import CompletionRequest, StreamItem, TextDelta
from workers.providers.simulated_results import answer

_VOCABULARY = (
    "assert", "test", "case", "boundary", "input", "expected", "coverage", "branch", "mock",
    "fixture", "edge", "null", "empty", "large", "timeout", "retry", "error", "path", "value",
    "should", "return", "raise", "when", "given", "then", "verify", "invariant", "state",
)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


@dataclass
class SimulatedProvider:
    ttft_ms: float = field(default_factory=lambda: _env_float("FLEET_SIM_TTFT_MS", 150))
    tokens_per_second: float = field(
        default_factory=lambda: _env_float("FLEET_SIM_TOKENS_PER_SECOND", 400))
    output_tokens: int = field(
        default_factory=lambda: int(_env_float("FLEET_SIM_OUTPUT_TOKENS", 0)))
    name: str = "simulated"

    def stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        seed = hashlib.sha256(f"{request.task_id}\0{request.prompt}".encode()).digest()
        rng = random.Random(seed)
        count = self.output_tokens or min(request.max_output_tokens, 400)
        count = min(count, request.max_output_tokens)
        started = time.monotonic()
        if self.ttft_ms > 0:
            time.sleep(self.ttft_ms / 1000)
        interval = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        # The text is a pure function of task and prompt, so a continuation request resumes it
        # exactly: the words already delivered are skipped, not repeated.
        # A structured result comes last, after prose up to the usual length (the parser
        # finds it there, as it must in a real model's answer).
        result = (re.findall(r"\s*\S+", "\n\n" + answer(request.result_type, request.prompt,
                                                         request.model))
                  if request.result_type else [])
        words = [rng.choice(_VOCABULARY) for _ in range(max(count - len(result), 1))]
        deltas = [w if i == 0 else (".\n" if i % 12 == 11 else " ") + w
                  for i, w in enumerate(words)] + result
        count = len(deltas)
        skip, produced = 0, 0
        while skip < len(deltas) and produced + len(deltas[skip]) <= len(request.continuation):
            produced += len(deltas[skip])
            skip += 1
        for n, i in enumerate(range(skip, count)):
            if interval:
                due = started + self.ttft_ms / 1000 + n * interval
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield TextDelta(deltas[i])
        yield TokenUsage(input_tokens=estimate_tokens(request.system + request.prompt
                                                      + request.continuation),
                         output_tokens=count - skip)
