"""Provider adapters driving the real anthropic and openai SDKs against the fake server."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest

from fleet.config import ModelConfig, TokenPrices
from fleet.contracts import TokenUsage
from tests.fake_provider import FakeProvider
from workers.engine import StreamEngine
from workers.providers import CompletionRequest, ProviderCallError, StreamItem, TextDelta
from workers.providers.anthropic_provider import AnthropicProvider
from workers.providers.openai_provider import OpenAIChatProvider

EXPECTED = "".join(("" if i == 0 else " ") + f"w{i}" for i in range(30))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def model(provider: str, name: str) -> ModelConfig:
    return ModelConfig.model_validate({
        "name": name, "provider": provider, "model": name,
        "capabilities": {"maxTokens": 1000, "costPer1kTokens": {"input": 1, "output": 1}},
        "complexityRange": {"min": 0, "max": 1}})


Adapter = AnthropicProvider | OpenAIChatProvider


def adapter_for(fake: FakeProvider, kind: str) -> tuple[Adapter, ModelConfig]:
    m = model(kind, f"fake-{kind}")
    if kind == "anthropic":
        return AnthropicProvider(m, "k-secret-a", fake.url, 1.0), m
    base = f"{fake.url}/v1beta/openai/" if kind == "google" else f"{fake.url}/v1"
    return OpenAIChatProvider(m, "k-secret-o", base, 1.0), m


def request(m: ModelConfig, spec: str = "", stream: bool = True,
            continuation: str = "") -> CompletionRequest:
    return CompletionRequest(task_id="t", model=m, system="sys",
                             prompt=f"[[task:{uuid.uuid4().hex}]] {spec}", max_output_tokens=100,
                             stream=stream, continuation=continuation)


# Each adapter is read as a task thread reads it, and on the stream engine's event loop.
MODES = ["thread", "engine"]
ENGINE = StreamEngine()


def collect(adapter: Adapter, req: CompletionRequest, mode: str = "thread"
            ) -> tuple[str, list[TokenUsage]]:
    async def read() -> list[StreamItem]:
        return [item async for item in adapter.astream(req)]

    items = ENGINE.run(read()) if mode == "engine" else list(adapter.stream(req))
    text = [item.text for item in items if isinstance(item, TextDelta)]
    return "".join(text), [item for item in items if isinstance(item, TokenUsage)]


@pytest.mark.parametrize("kind", ["anthropic", "openai", "google"])
@pytest.mark.parametrize("mode", MODES)
def test_streams_text_and_usage(fake: FakeProvider, kind: str, mode: str) -> None:
    adapter, m = adapter_for(fake, kind)
    text, usage = collect(adapter, request(m), mode)
    assert text == EXPECTED
    assert len(usage) == 1 and usage[0].output_tokens == 30 and usage[0].input_tokens > 0
    assert usage[0].cached_tokens in (2, 3)  # cache-read tokens reported by each format
    assert fake.requests[-1]["auth"] and fake.requests[-1]["stream"]


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
@pytest.mark.parametrize("mode", MODES)
def test_non_streaming_and_continuation(fake: FakeProvider, kind: str, mode: str) -> None:
    adapter, m = adapter_for(fake, kind)
    text, usage = collect(adapter, request(m, stream=False), mode)
    assert text == EXPECTED and usage[0].output_tokens == 30
    first_ten = EXPECTED[:EXPECTED.index(" w10")]
    text, _ = collect(adapter, request(m, continuation=first_ten), mode)
    assert first_ten + text == EXPECTED


@pytest.mark.parametrize(("spec", "retryable", "timeout", "retry_after"), [
    ("fault=429&retry_after=2", True, False, 2.0),
    ("fault=500", True, False, None),
    ("fault=reset&after=5", True, False, None),
    ("fault=stall&after=3&stall=3", True, True, None),
    ("fault=malformed&after=4", True, False, None),
])
@pytest.mark.parametrize("kind", ["anthropic", "openai"])
@pytest.mark.parametrize("mode", MODES)
def test_faults_become_classified_errors(fake: FakeProvider, kind: str, spec: str,
                                         retryable: bool, timeout: bool,
                                         retry_after: float | None, mode: str) -> None:
    adapter, m = adapter_for(fake, kind)
    with pytest.raises(ProviderCallError) as info:
        collect(adapter, request(m, f"[[{m.model}:{spec}]]"), mode)
    assert info.value.retryable is retryable and info.value.timeout is timeout
    assert info.value.retry_after == retry_after
    assert "k-secret" not in str(info.value)


def test_anthropic_overloaded_529_is_retryable(fake: FakeProvider) -> None:
    adapter, m = adapter_for(fake, "anthropic")
    with pytest.raises(ProviderCallError) as info:
        collect(adapter, request(m, f"[[{m.model}:fault=529]]"))
    assert info.value.status == 529 and info.value.retryable


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
@pytest.mark.parametrize("mode", MODES)
def test_missing_usage_yields_no_usage_item(fake: FakeProvider, kind: str, mode: str) -> None:
    adapter, m = adapter_for(fake, kind)
    text, usage = collect(adapter, request(m, f"[[{m.model}:fault=nousage]]"), mode)
    assert text == EXPECTED and usage == []


@pytest.mark.parametrize("stream", [True, False])
def test_a_long_material_is_cached_and_the_second_call_costs_less(fake: FakeProvider,
                                                                  stream: bool) -> None:
    """The task's code is marked for Anthropic's prompt cache once it is long enough: the
    first call writes it, the next (a retry, a fallback, another task on the same code) reads
    it, and the one price function makes that call cheaper."""
    from fleet.costs.pricing import price
    from fleet.qe.prompts import Prompt

    adapter, m = adapter_for(fake, "anthropic")
    m = m.model_copy(update={"capabilities": m.capabilities.model_copy(update={
        "min_cache_tokens": 1024,
        "cost_per_1k_tokens": TokenPrices(input=Decimal(3), output=Decimal(15),
                                          cache_read=Decimal("0.3"),
                                          cache_write=Decimal("3.75"))})})
    code = f"# module {uuid.uuid4().hex}\n" + "\n".join(
        f"def case_{i}(x): return x + {i}" for i in range(400))
    prompt = Prompt("sys", f"```python\n{code}\n```\n\nWrite tests.", len(code) + 14)

    def call(task: str) -> TokenUsage:
        req = CompletionRequest(task_id=task, model=m, system=prompt.system,
                                prompt=f"{prompt.user} [[task:{task}]]",
                                reusable=prompt.reusable, max_output_tokens=100,
                                stream=stream)
        return collect(adapter, req)[1][-1]

    first, second = call(uuid.uuid4().hex), call(uuid.uuid4().hex)
    assert first.cache_write_tokens > 1000 and first.cached_tokens == 0
    assert second.cached_tokens == first.cache_write_tokens and second.cache_write_tokens == 0
    assert second.input_tokens == first.input_tokens
    assert price(second, m) < price(first, m) / 2


def test_a_short_material_is_not_marked_for_caching(fake: FakeProvider) -> None:
    adapter, m = adapter_for(fake, "anthropic")
    req = CompletionRequest(task_id="t", model=m, system="sys",
                            prompt=f"```\nx = 1\n```\n\nTest it. [[task:{uuid.uuid4().hex}]]",
                            reusable=13, max_output_tokens=100)
    usage = collect(adapter, req)[1][-1]
    assert usage.cache_write_tokens == 0 and usage.cached_tokens == 2  # the fake's unmarked reply


GATE = {"decision": "FAIL", "reasons": ["coverage 71 < 80"], "blocking": []}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize(("kind", "how"), [("anthropic", "tool"), ("openai", "json_schema"),
                                           ("google", "json_schema")])
@pytest.mark.parametrize("mode", MODES)
def test_a_structured_result_is_asked_for_natively_and_arrives_as_its_json(
        fake: FakeProvider, kind: str, how: str, stream: bool, mode: str) -> None:
    from urllib.parse import quote

    from fleet.qe.parse import parse_result
    from fleet.qe.prompts import result_schema
    from fleet.qe.quality_gate import QualityGateResult

    adapter, m = adapter_for(fake, kind)
    schema = result_schema("quality-gate")
    req = request(m, f"[[fake-{kind}:json={quote(json.dumps(GATE))}&times=9]]", stream=stream)
    req = dataclasses.replace(req, result_type="quality-gate", result_schema=schema)
    text, usage = collect(adapter, req, mode)
    assert fake.requests[-1]["structured"] == how and fake.requests[-1]["schema"] == schema
    assert parse_result(text, QualityGateResult).model_dump() == GATE
    assert usage[0].output_tokens > 0
    # A continuation carries on the JSON text already begun: asked for in text, not natively.
    collect(adapter, dataclasses.replace(req, continuation='{"decision": '), mode)
    assert fake.requests[-1]["structured"] is None


def test_simulated_timing_ranges_are_drawn_per_task_and_repeatable() -> None:
    from workers.providers.simulated import SimulatedProvider, parse_range, timing

    ranges = parse_range("300-2000", 0), parse_range("30-90", 0), parse_range("200-1500", 0)
    assert parse_range("150", 0) == (150.0, 150.0) and parse_range("", 7) == (7, 7)
    drawn = [timing(f"t{i}", *ranges) for i in range(200)]
    assert drawn[0] == timing("t0", *ranges)  # seeded by the task id
    assert all(0.3 <= t.ttft_s <= 2 and 30 <= t.tokens_per_second <= 90
               and 200 <= t.output_tokens <= 1500 for t in drawn)
    assert len({t.output_tokens for t in drawn}) > 150  # each task its own
    provider = SimulatedProvider(ttft_ms=(0, 0), tokens_per_second=(0, 0),
                                 output_tokens=ranges[2])
    items = list(provider.stream(CompletionRequest(
        task_id="t0", model=model("anthropic", "m"), system="", prompt="p",
        max_output_tokens=4000)))
    *deltas, usage = items
    assert isinstance(usage, TokenUsage)
    assert len(deltas) == usage.output_tokens == drawn[0].output_tokens


def test_the_engine_runs_reads_on_one_loop_and_passes_errors_back() -> None:
    import asyncio
    import threading

    engine = StreamEngine()
    seen: set[int] = set()

    async def where() -> str:
        seen.add(threading.get_ident())
        await asyncio.sleep(0)
        return threading.current_thread().name

    async def fails() -> None:
        raise ProviderCallError("boom", retryable=False)

    try:
        names = [engine.run(where()) for _ in range(3)]
        assert names == ["fleet-stream-engine"] * 3 and len(seen) == 1
        with pytest.raises(ProviderCallError, match="boom"):
            engine.run(fails())
    finally:
        engine.close()
