"""Simulated provider: offline, deterministic, timed like a real streaming API.

Time to first token, tokens per second and output length come from ``FLEET_SIM_TTFT_MS``,
``FLEET_SIM_TOKENS_PER_SECOND`` and ``FLEET_SIM_OUTPUT_TOKENS`` (0 = use the task's
max_output_tokens, capped at 400). Each may be a range, ``300-2000``: every task then draws its
own value, seeded by its id (:func:`timing`), so a load of many tasks is realistic and two runs
of the same tasks are timed alike. A task type that asks for a structured result gets one at
the end (``workers.providers.simulated_results``). The text depends only on the task id and
prompt, and usage is reported like a real API (input estimated from the prompt, output = tokens
emitted).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import re
import time
from collections.abc import AsyncGenerator, Iterator
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


Range = tuple[float, float]


def parse_range(raw: str | None, default: float) -> Range:
    """``"300-2000"`` → (300, 2000); ``"150"`` → (150, 150); empty → the default."""
    raw = (raw or "").strip()
    if not raw:
        return default, default
    low, _, high = raw.partition("-")
    return float(low), float(high or low)


def env_range(name: str, default: float) -> Range:
    return parse_range(os.environ.get(name), default)


@dataclass(frozen=True)
class Timing:
    ttft_s: float
    tokens_per_second: float  # 0: as fast as the reader takes them
    output_tokens: int  # 0: the task's max_output_tokens, capped at 400


def timing(task_id: str, ttft_ms: Range, tokens_per_second: Range,
           output_tokens: Range) -> Timing:
    """One task's timing: each value drawn uniformly from its range, seeded by the task id."""
    rng = random.Random(hashlib.sha256(f"timing\0{task_id}".encode()).digest())
    return Timing(rng.uniform(*ttft_ms) / 1000, rng.uniform(*tokens_per_second),
                  round(rng.uniform(*output_tokens)))


@dataclass
class SimulatedProvider:
    ttft_ms: Range = field(default_factory=lambda: env_range("FLEET_SIM_TTFT_MS", 150))
    tokens_per_second: Range = field(
        default_factory=lambda: env_range("FLEET_SIM_TOKENS_PER_SECOND", 400))
    output_tokens: Range = field(
        default_factory=lambda: env_range("FLEET_SIM_OUTPUT_TOKENS", 0))
    name: str = "simulated"

    def _plan(self, request: CompletionRequest) -> tuple[float, Iterator[tuple[float, str]]]:
        """The call's wait for its first token, and each delta after it with its delay from
        the call's start — drawn as they are read, so a long answer holds no list of them."""
        seed = hashlib.sha256(f"{request.task_id}\0{request.prompt}".encode()).digest()
        rng = random.Random(seed)
        timed = timing(request.task_id, self.ttft_ms, self.tokens_per_second,
                       self.output_tokens)
        count = min(timed.output_tokens or min(request.max_output_tokens, 400),
                    request.max_output_tokens)
        interval = 1.0 / timed.tokens_per_second if timed.tokens_per_second > 0 else 0.0
        # A structured result comes last, after prose up to the usual length (the parser
        # finds it there, as it must in a real model's answer).
        result = (re.findall(r"\s*\S+", "\n\n" + answer(request.result_type, request.prompt,
                                                         request.model))
                  if request.result_type else [])
        words = (rng.choice(_VOCABULARY) for _ in range(max(count - len(result), 1)))
        deltas = itertools.chain((w if i == 0 else (".\n" if i % 12 == 11 else " ") + w
                                  for i, w in enumerate(words)), result)

        def timeline() -> Iterator[tuple[float, str]]:
            # The text is a pure function of task and prompt, so a continuation request
            # resumes it exactly: the words already delivered are skipped, not repeated.
            skipping, produced, n = bool(request.continuation), 0, 0
            for text in deltas:
                if skipping and produced + len(text) <= len(request.continuation):
                    produced += len(text)
                    continue
                skipping = False
                yield timed.ttft_s + n * interval, text
                n += 1

        return timed.ttft_s, timeline()

    def _usage(self, request: CompletionRequest, produced: int) -> TokenUsage:
        return TokenUsage(input_tokens=estimate_tokens(request.system + request.prompt
                                                       + request.continuation),
                          output_tokens=produced)

    def stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        started = time.monotonic()
        ttft, timeline = self._plan(request)
        if ttft > 0:
            time.sleep(ttft)
        produced = 0
        for due, text in timeline:
            delay = started + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            produced += 1
            yield TextDelta(text)
        yield self._usage(request, produced)

    async def astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        started = time.monotonic()
        ttft, timeline = self._plan(request)
        if ttft > 0:
            await asyncio.sleep(ttft)
        produced = 0
        for due, text in timeline:
            delay = started + due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            produced += 1
            yield TextDelta(text)
        yield self._usage(request, produced)
