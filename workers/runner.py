"""The execution engine: call a model, and survive it failing.

For one task it walks the selection's chain (chosen model, then its fallbacks), and for each
model:

* skips it while its circuit breaker is open (only one worker probes a half-open one);
* retries retryable failures that happen *before the first chunk* with exponential backoff
  (``retryConfig``), waiting at least what the provider's ``retry-after`` asked;
* when a stream dies *after* some chunks, moves on (mid-stream failover): a ``fallback`` event
  tells subscribers, and the next model is asked to continue the text already streamed, so they
  see the continuation — neither a restart nor a duplicate;
* when a stream keeps timing out, tries once more without streaming (STREAM_002);
* bills every call that produced output, at its reported usage (estimated when the provider
  reports none: COST_001, logged); a call refused before any output (429, 5xx, a connection
  that failed) costs nothing and is only counted (``fleet_failed_calls_total``, and the
  result's ``failed_calls``).

The overall task deadline (``fleet.taskTimeout``) bounds all of it (TASK_003).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fleet.config import FleetConfig, ModelConfig
from fleet.contracts import ModelSelection, QETask, TokenUsage
from fleet.errors import (
    BufferOverflow,
    CostCalculationFailed,
    FleetError,
    MissingCredentials,
    ProviderError,
    StreamTimeout,
    TaskCancelled,
    TaskTimedOut,
)
from fleet.metrics import FAILED_CALLS, FALLBACKS
from fleet.qe.prompts import Prompt, result_schema
from fleet.routing.breaker import CircuitBreaker
from fleet.routing.registry import ModelRegistry
from fleet.routing.tokens import estimate_tokens
from fleet.streaming.relay import StreamPublisher
from workers.engine import StreamEngine
from workers.providers import (
    AsyncProvider,
    CompletionRequest,
    Provider,
    ProviderCallError,
    StreamItem,
    TextDelta,
)

log = logging.getLogger("fleet.runner")

# The adapter that calls a model: ``workers.providers.Providers()`` in a worker, a
# ``MockProvider`` in tests.
ProviderFactory = Callable[[ModelConfig], Provider]
MAX_BACKOFF_SECONDS = 60.0
PROGRESS_EVERY_CHUNKS = 8
BACKLOG_POLL_SECONDS = 0.002


@dataclass
class Call:
    model: ModelConfig
    usage: TokenUsage


@dataclass
class FailedCall:
    """A call that failed before producing anything: the provider charges nothing for it."""

    model: str
    reason: str


@dataclass
class Outcome:
    text: str
    model: ModelConfig
    calls: list[Call] = field(default_factory=list)  # the billed ones
    failed: list[FailedCall] = field(default_factory=list)


class RunFailed(Exception):
    """The task could not be completed; ``calls`` still have to be paid for."""

    def __init__(self, error: FleetError, calls: list[Call], failed: list[FailedCall]) -> None:
        super().__init__(str(error))
        self.error = error
        self.calls = calls
        self.failed = failed


class Runner:
    def __init__(self, config: FleetConfig, registry: ModelRegistry, breaker: CircuitBreaker,
                 providers: ProviderFactory, engine: StreamEngine | None = None) -> None:
        """``engine``: read the streams of providers that can on its event loop (see
        ``workers.engine``); without one, each in its task's thread."""
        self.config = config
        self.engine = engine
        self.registry = registry
        self.breaker = breaker
        self.providers = providers
        self.retry = config.streaming.retry_config

    def chain(self, selection: ModelSelection) -> list[ModelConfig]:
        models = [selection.model_config_]
        for name in selection.fallback_models:
            if name in self.registry:
                candidate = self.registry.get(name)
                if candidate.enabled:
                    models.append(candidate)
        return models

    def backoff(self, retries: int, retry_after: float | None) -> float:
        delay = self.retry.backoff_ms / 1000 * self.retry.backoff_multiplier ** retries
        return min(max(delay, retry_after or 0.0), MAX_BACKOFF_SECONDS)

    def run(self, task: QETask, selection: ModelSelection, prompt: Prompt,
            publisher: StreamPublisher, streaming: bool, deadline: float,
            delivered: str = "") -> Outcome:
        """``delivered``: text an earlier attempt already streamed (a redelivered task
        continues it instead of starting over)."""
        outcome = Outcome(text="", model=selection.model_config_)
        try:
            return self._run(task, selection, prompt, publisher, streaming, deadline,
                             outcome, delivered)
        except FleetError as exc:
            raise RunFailed(exc, outcome.calls, outcome.failed) from exc

    def _run(self, task: QETask, selection: ModelSelection, prompt: Prompt,
             publisher: StreamPublisher, streaming: bool, deadline: float,
             outcome: Outcome, delivered: str) -> Outcome:
        parts: list[str] = [delivered] if delivered else []
        last_error = "no model could be called"
        timed_out = False  # the last failure was a stream that went silent
        previous: ModelConfig | None = None
        chain = self.chain(selection)
        for index, model in enumerate(chain):
            if not self.breaker.allow(model):
                last_error, timed_out = f"{model.name}: circuit open", False
                continue
            try:
                provider = self.providers(model)
            except MissingCredentials as exc:  # PROVIDER_002 on this worker: the next model
                log.warning("task %s skips %s: %s", task.id, model.name, exc)
                last_error, timed_out = f"{model.name}: {exc.message}", False
                continue
            if previous is not None:
                FALLBACKS.labels(previous.name).inc()
                publisher.emit("fallback", {"from": previous.name, "to": model.name,
                                            "reason": last_error,
                                            "continued_after_chars": len("".join(parts))})
            previous = model
            retries, synchronous = 0, False
            while True:
                if time.monotonic() >= deadline:
                    raise TaskTimedOut(
                        f"task {task.id} exceeded {self.config.fleet.task_timeout}s")
                before = len(parts)
                request = CompletionRequest(
                    task_id=task.id, model=model, system=prompt.system, prompt=prompt.user,
                    reusable=prompt.reusable, result_type=prompt.result_type,
                    result_schema=(result_schema(prompt.result_type)
                                   if prompt.result_type and model.capabilities.structured_output
                                   else None),
                    max_output_tokens=task.max_output_tokens,
                    stream=streaming and not synchronous, continuation="".join(parts))
                try:
                    usage = self._call(provider, request, parts, publisher, streaming,
                                       deadline)
                except (TaskTimedOut, TaskCancelled):  # stopped by us: what was sent is paid
                    if len(parts) > before:
                        outcome.calls.append(Call(model, estimated_usage(request,
                                                                         parts[before:])))
                    raise
                except ProviderCallError as exc:
                    self.breaker.record(model, ok=False)
                    last_error, timed_out = f"{model.name}: {exc}", exc.timeout
                    log.warning("task %s on %s: %s", task.id, model.name, exc)
                    produced = len(parts) > before
                    if produced:  # a stream that died mid-way: what was sent is estimated
                        outcome.calls.append(Call(model, estimated_usage(request,
                                                                         parts[before:])))
                    else:  # refused before any output: providers charge nothing
                        outcome.failed.append(FailedCall(model.name, exc.reason))
                        FAILED_CALLS.labels(model.name, exc.reason).inc()
                    last_model = index == len(chain) - 1
                    if produced and not last_model:
                        break  # mid-stream: carry on with the next model
                    if exc.timeout and not synchronous and retries >= self.retry.max_retries:
                        synchronous = True  # STREAM_002: one more try, not streamed
                        continue
                    if (exc.retryable or produced) and retries < self.retry.max_retries:
                        delay = self.backoff(retries, exc.retry_after)
                        if time.monotonic() + delay >= deadline:
                            break
                        time.sleep(delay)
                        retries += 1
                        continue
                    break
                self.breaker.record(model, ok=True)
                outcome.calls.append(Call(model, usage))
                publisher.flush_text()
                outcome.text, outcome.model = "".join(parts), model
                return outcome
        if timed_out:
            raise StreamTimeout(last_error)
        raise ProviderError(last_error)

    def _call(self, provider: Provider, request: CompletionRequest, parts: list[str],
              publisher: StreamPublisher, streaming: bool, deadline: float) -> TokenUsage:
        reading = Reading(request, parts, publisher, streaming, deadline)
        if self.engine is not None and isinstance(provider, AsyncProvider):
            return self.engine.run(reading.read_async(provider))
        for item in provider.stream(request):
            reading.take(item)
        return reading.usage()


def estimated_usage(request: CompletionRequest, produced: list[str]) -> TokenUsage:
    return TokenUsage(
        input_tokens=estimate_tokens(request.system + request.prompt + request.continuation),
        output_tokens=estimate_tokens("".join(produced)), estimated=True)


class Reading:
    """One model call's stream as it is read: its text kept, chunks and progress published,
    the deadline and a cancellation checked at every delta — the same whichever thread or
    event loop reads it."""

    def __init__(self, request: CompletionRequest, parts: list[str],
                 publisher: StreamPublisher, streaming: bool, deadline: float) -> None:
        self.request, self.parts, self.publisher = request, parts, publisher
        self.streaming, self.deadline = streaming, deadline
        self.start = len(parts)
        self.reported: TokenUsage | None = None

    def take(self, item: StreamItem) -> None:
        if not isinstance(item, TextDelta):
            self.reported = item
            return
        parts, publisher, request = self.parts, self.publisher, self.request
        parts.append(item.text)
        if self.streaming:
            chunks_before = publisher.chunks
            publisher.add_text(item.text)
            if publisher.chunks != chunks_before and \
                    publisher.chunks % PROGRESS_EVERY_CHUNKS == 0:
                produced, max_tokens = len(parts), request.max_output_tokens
                publisher.emit("progress", {
                    "percent": round(min(produced / max_tokens, 0.99) * 100, 1),
                    "tokens": produced, "estimated_remaining": max(max_tokens - produced, 0)})
        if time.monotonic() >= self.deadline:
            raise TaskTimedOut(f"task {request.task_id} exceeded its deadline")
        if publisher.cancelled():
            raise TaskCancelled(f"task {request.task_id} was cancelled while "
                                f"{request.model.name} answered")

    async def read_async(self, provider: AsyncProvider) -> TokenUsage:
        # Closed at once when the read stops early (a timeout, a cancel): its connection too.
        async with contextlib.aclosing(provider.astream(self.request)) as items:
            async for item in items:
                await self._wait_for_relay()
                self.take(item)
        return self.usage()

    async def _wait_for_relay(self) -> None:
        """The loop must never block: wait here while the relay catches up, instead of in the
        publisher (backpressure; STREAM_001 after the stream timeout)."""
        waited_until = time.monotonic() + self.publisher.timeout_s
        while self.publisher.backlogged():
            if time.monotonic() >= waited_until:
                raise BufferOverflow(f"stream {self.request.task_id}: Redis took more "
                                     f"than {self.publisher.timeout_s}s")
            await asyncio.sleep(BACKLOG_POLL_SECONDS)

    def usage(self) -> TokenUsage:
        if self.reported is not None:
            return self.reported
        # COST_001: no usage reported; estimate it and say so
        request = self.request
        log.warning("%s %s: %s reported no usage for task %s; %s",
                    CostCalculationFailed.code, CostCalculationFailed.name,
                    request.model.name, request.task_id, CostCalculationFailed.recovery)
        return estimated_usage(request, self.parts[self.start:])
