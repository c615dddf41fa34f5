"""The runner in process, on MockProviders and an in-memory relay (no Redis, no server): retries
before the first chunk, mid-stream failover that continues the text, STREAM_002 by the error's
flag, one clear error when every model fails, and usage estimated when none is reported."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from fleet.config import load_config
from fleet.contracts import ModelSelection, QETask, TokenUsage
from fleet.errors import MissingCredentials, ProviderError, StreamTimeout
from fleet.qe.prompts import Prompt
from fleet.routing.registry import ModelRegistry
from fleet.routing.router import ModelRouter
from fleet.streaming.relay import StreamPublisher
from tests.config.test_config import SHIPPED
from workers.engine import StreamEngine
from workers.providers import CompletionRequest, MockProvider, ProviderCallError, TextDelta
from workers.runner import RunFailed, Runner

CONFIG = load_config(SHIPPED, environ={"FEATURE_MULTI_MODEL_ROUTER": "true",
                                       "STREAMING_ENABLED": "true", "FEATURE_STREAMING": "true"})
CONFIG = CONFIG.model_copy(update={"streaming": CONFIG.streaming.model_copy(update={
    "retry_config": CONFIG.streaming.retry_config.model_copy(update={"backoff_ms": 0})})})


class RecordingRelay:
    """Writes nothing: keeps each event as the relay would have written it, at once."""

    client = None

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def submit(self, publisher: StreamPublisher, seq: int, payload: str) -> None:
        import json

        self.events.append(json.loads(payload))
        publisher.written(seq)

    def hold(self, publisher: StreamPublisher) -> None:
        publisher.flush_text()


class OpenBreaker:
    def __init__(self) -> None:
        self.outcomes: list[tuple[str, bool]] = []

    def allow(self, model: Any) -> bool:
        return True

    def record(self, model: Any, ok: bool) -> None:
        self.outcomes.append((model.name, ok))


def run(handlers: dict[str, Any], streaming: bool = True
        ) -> tuple[Any, RecordingRelay, OpenBreaker, dict[str, MockProvider]]:
    """Runs a security review (chosen: the strongest model, then fallbacks) with one mock
    provider per model; returns the outcome (or RunFailed), the events and the breaker."""
    task = QETask(id="run-1", type="security-review", description="Audit this.",
                  preferred_model="claude-opus-4", max_output_tokens=100)
    registry = ModelRegistry.from_config(CONFIG)
    selection: ModelSelection = ModelRouter(CONFIG, registry).select_model(task)
    mocks = {name: MockProvider(handler) for name, handler in handlers.items()}
    relay, breaker = RecordingRelay(), OpenBreaker()
    runner = Runner(CONFIG, registry, breaker, lambda model: mocks[model.name],  # type: ignore[arg-type]
                    ENGINES[0])
    publisher = StreamPublisher(task.id, selection.model_name, relay,  # type: ignore[arg-type]
                                log_read=True)
    try:
        outcome: Any = runner.run(task, selection, Prompt("system", "prompt"), publisher, streaming,
                                  deadline=time.monotonic() + 30)
    except RunFailed as failed:
        outcome = failed
    return outcome, relay, breaker, mocks


ENGINES: list[StreamEngine | None] = [None]


@pytest.fixture(autouse=True, params=["thread", "engine"])
def reader(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every case twice: each stream read in the task's thread, and on the stream engine."""
    engine = ENGINES[0] = StreamEngine() if request.param == "engine" else None
    yield
    if engine is not None:
        engine.close()
    ENGINES[0] = None


def words(*parts: str, usage: TokenUsage | None = None) -> Any:
    def handler(request: CompletionRequest) -> Iterable[Any]:
        yield from (TextDelta(p) for p in parts)
        if usage is not None:
            yield usage

    return handler


def failing(*errors: ProviderCallError, then: Any = None) -> Any:
    """Fails with each error in turn, then answers with ``then``."""
    pending = list(errors)

    def handler(request: CompletionRequest) -> Iterator[Any]:
        if pending:
            raise pending.pop(0)
        yield from then(request)

    return handler


def test_a_retryable_failure_before_any_text_is_retried_on_the_same_model() -> None:
    outcome, relay, breaker, mocks = run({"claude-opus-4": failing(
        ProviderCallError("HTTP 429", retryable=True, status=429),
        then=words("all ", "good", usage=TokenUsage(input_tokens=5, output_tokens=2)))})
    assert outcome.text == "all good" and outcome.model.name == "claude-opus-4"
    assert len(mocks["claude-opus-4"].requests) == 2
    # The 429 produced nothing: it is counted, not billed.
    assert [c.usage for c in outcome.calls] == [TokenUsage(input_tokens=5, output_tokens=2)]
    assert [(f.model, f.reason) for f in outcome.failed] == [("claude-opus-4", "429")]
    assert breaker.outcomes == [("claude-opus-4", False), ("claude-opus-4", True)]
    assert [e["type"] for e in relay.events] == ["chunk"] * 2


def test_a_stream_that_dies_mid_way_continues_on_the_next_model() -> None:
    def dies(request: CompletionRequest) -> Iterator[Any]:
        yield TextDelta("first half, ")
        raise ProviderCallError("connection reset", retryable=True)

    outcome, relay, _, mocks = run({
        "claude-opus-4": dies, "claude-sonnet-4.5": words("second half", usage=TokenUsage()),
        "claude-haiku-4": words("second half", usage=TokenUsage())})
    fallback = outcome.model.name
    assert fallback != "claude-opus-4"
    assert outcome.text == "first half, second half"
    # The dead stream is billed (what it sent, estimated), and the continuation.
    assert [(c.model.name, c.usage.estimated) for c in outcome.calls] == [
        ("claude-opus-4", True), (fallback, False)]
    assert outcome.failed == []
    assert mocks[fallback].requests[0].continuation == "first half, "
    kinds = [e["type"] for e in relay.events]
    assert kinds == ["chunk", "fallback", "chunk"]
    assert relay.events[1]["data"]["continued_after_chars"] == len("first half, ")
    assert [e["seq"] for e in relay.events] == [0, 1, 2]


def test_a_stream_that_keeps_timing_out_ends_with_stream_002() -> None:
    def silent(request: CompletionRequest) -> Iterator[Any]:
        raise ProviderCallError("went quiet", retryable=True, timeout=True)
        yield  # a generator

    outcome, _, _, _ = run({name: silent for name in
                            ("claude-opus-4", "claude-sonnet-4.5", "claude-haiku-4")})
    assert isinstance(outcome, RunFailed) and isinstance(outcome.error, StreamTimeout)
    assert outcome.error.code == "STREAM_002"


def test_every_model_failing_is_one_provider_error_and_costs_nothing() -> None:
    refused = failing(*(ProviderCallError("HTTP 400", retryable=False, status=400)
                        for _ in range(5)))
    outcome, _, _, _ = run({name: refused for name in
                            ("claude-opus-4", "claude-sonnet-4.5", "claude-haiku-4")})
    assert isinstance(outcome, RunFailed) and isinstance(outcome.error, ProviderError)
    assert "HTTP 400" in outcome.error.message
    assert outcome.calls == []  # refused calls: nothing to pay
    assert [f.reason for f in outcome.failed] == ["400"] * 3  # one per model of the chain


def test_usage_a_provider_does_not_report_is_estimated(caplog: pytest.LogCaptureFixture) -> None:
    outcome, _, _, _ = run({"claude-opus-4": words("no ", "usage ", "here")})
    usage = outcome.calls[-1].usage
    assert usage.estimated and usage.output_tokens > 0 and usage.input_tokens > 0
    assert "COST_001" in caplog.text


def test_a_model_without_credentials_on_this_worker_is_skipped_for_the_next() -> None:
    task = QETask(id="run-2", type="security-review", description="Audit this.",
                  preferred_model="claude-opus-4", max_output_tokens=100)
    registry = ModelRegistry.from_config(CONFIG)
    selection = ModelRouter(CONFIG, registry).select_model(task)
    answer = MockProvider(words("answered", usage=TokenUsage(input_tokens=3, output_tokens=1)))

    def providers(model: Any) -> MockProvider:
        if model.name == "claude-opus-4":
            raise MissingCredentials("model 'claude-opus-4' (anthropic) has no API key: set "
                                     "ANTHROPIC_API_KEY or FLEET_SIMULATE=true")
        return answer

    relay = RecordingRelay()
    runner = Runner(CONFIG, registry, OpenBreaker(), providers)  # type: ignore[arg-type]
    outcome = runner.run(task, selection, Prompt("system", "prompt"),
                         StreamPublisher(task.id, selection.model_name, relay,  # type: ignore[arg-type]
                                         log_read=True),
                         True, deadline=time.monotonic() + 30)
    assert outcome.text == "answered" and outcome.model.name == selection.fallback_models[0]
    assert [e["type"] for e in relay.events] == ["chunk"]  # nothing was called, no fallback


def test_a_cancelled_task_stops_mid_answer_and_bills_what_was_streamed() -> None:
    task = QETask(id="run-3", type="security-review", description="Audit this.",
                  preferred_model="claude-opus-4", max_output_tokens=100)
    registry = ModelRegistry.from_config(CONFIG)
    selection = ModelRouter(CONFIG, registry).select_model(task)
    cancelled: list[bool] = []

    def answer(request: CompletionRequest) -> Iterator[Any]:
        for n in range(50):
            if n == 5:
                cancelled.append(True)  # the task is cancelled while the model answers
            yield TextDelta(f" w{n}")

    runner = Runner(CONFIG, registry, OpenBreaker(),  # type: ignore[arg-type]
                    lambda model: MockProvider(answer))
    publisher = StreamPublisher(task.id, selection.model_name, RecordingRelay(),  # type: ignore[arg-type]
                                log_read=True, cancelled=lambda: bool(cancelled))
    with pytest.raises(RunFailed) as info:
        runner.run(task, selection, Prompt("system", "prompt"), publisher, True,
                   deadline=time.monotonic() + 30)
    assert info.value.error.code == "TASK_004"
    [call] = info.value.calls  # no fallback to another model; the words sent are paid for
    assert call.model.name == "claude-opus-4" and call.usage.estimated
    assert 0 < call.usage.output_tokens < 50


class StuckRelay(RecordingRelay):
    """Takes events and never writes them: Redis is gone."""

    def submit(self, publisher: StreamPublisher, seq: int, payload: str) -> None:
        self.events.append({"seq": seq})


def test_on_the_engine_a_backlogged_stream_waits_without_blocking_the_loop() -> None:
    import asyncio

    from fleet.errors import BufferOverflow
    from workers.runner import Reading

    engine = StreamEngine()
    publisher = StreamPublisher("stuck", "m", StuckRelay(), buffer_size=4,  # type: ignore[arg-type]
                                timeout_s=0.3, log_read=True)
    publisher.chunker.flush_seconds = 0  # every delta its own chunk
    request = CompletionRequest(task_id="stuck", model=CONFIG.routing.models[0], system="",
                                prompt="p", max_output_tokens=100)
    reading = Reading(request, [], publisher, True, time.monotonic() + 30)
    provider = MockProvider(words(*(f"w{i} " for i in range(50))))

    async def both() -> tuple[Any, int]:
        ticks = 0

        async def tick() -> None:  # the loop keeps serving other streams meanwhile
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        try:
            return await reading.read_async(provider), ticks
        except BufferOverflow as exc:
            return exc, ticks
        finally:
            ticker.cancel()

    try:
        outcome, ticks = engine.run(both())
    finally:
        engine.close()
    assert isinstance(outcome, BufferOverflow) and outcome.code == "STREAM_001"
    assert ticks >= 10  # 0.3 s of waiting did not stop the loop
    assert len(reading.parts) < 10  # it stopped taking deltas once the relay fell behind
