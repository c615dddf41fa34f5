"""The gateway's OpenAI-compatible endpoint, driven by the real ``openai`` SDK (sync and async,
streaming and not) in front of a real worker: routed or pinned, priced like any task, errors in
OpenAI's shape with the fleet's code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import openai
import pytest

from fleet.streaming.subscribe import read_log
from tests.fixtures import http_process

pytestmark = pytest.mark.integration

TOKEN = "oa-test-token-77d1"
ASK = [{"role": "system", "content": "Be brief."},
       {"role": "user", "content": "Which tests would you write for a slugify() function?"}]


@pytest.fixture(scope="module")
def gateway(services: Any) -> Iterator[tuple[httpx.Client, Path]]:
    with http_process(["fleet.cli", "gateway"], "gateway-openai", "/healthz",
                      env={"FLEET_GATEWAY_TOKEN": TOKEN},
                      headers={"Authorization": f"Bearer {TOKEN}"}) as server:
        yield server


def sdk(gateway: tuple[httpx.Client, Path]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway[0].base_url}/v1", api_key=TOKEN, max_retries=0)


def streamed_text(redis_client: Any, task_id: str) -> str:
    return "".join(e["data"].get("text", "") for e in read_log(redis_client, task_id)
                   if e["type"] == "chunk")


def test_a_routed_completion_names_its_model_and_task_and_is_priced(worker, gateway, pg,
                                                                    redis_client) -> None:
    raw = sdk(gateway).chat.completions.with_raw_response.create(model="auto", messages=ASK)
    completion, task_id = raw.parse(), raw.headers["x-fleet-task-id"]
    assert completion.model.startswith("claude-") and completion.id == f"chatcmpl-{task_id}"
    text = completion.choices[0].message.content
    assert text and text == streamed_text(redis_client, task_id)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0
    [(model, task_type)] = pg.execute("SELECT model, task_type FROM cost_entries "
                                      "WHERE task_id = %s", (task_id,)).fetchall()
    assert (model, task_type) == (completion.model, "general")


def test_a_streamed_completion_is_chunks_then_usage_then_done(worker, gateway,
                                                              redis_client) -> None:
    stream = sdk(gateway).chat.completions.with_raw_response.create(
        model="claude-opus-4", messages=ASK, stream=True,
        stream_options={"include_usage": True})
    task_id = stream.headers["x-fleet-task-id"]
    chunks = list(stream.parse())
    content = [c.choices[0].delta.content for c in chunks if c.choices]
    assert len([c for c in content if c]) > 3  # many chunks, not one message
    assert "".join(c or "" for c in content) == streamed_text(redis_client, task_id)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert {c.model for c in chunks} == {"claude-opus-4"}  # pinned


def test_the_async_client_streams_and_completes_too(worker, gateway) -> None:
    async def main() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=f"{gateway[0].base_url}/v1", api_key=TOKEN,
                                    max_retries=0)
        whole = await client.chat.completions.create(model="auto", messages=ASK)
        parts = [chunk.choices[0].delta.content or "" async for chunk in
                 await client.chat.completions.create(model="auto", messages=ASK,
                                                      stream=True) if chunk.choices]
        await client.close()
        return whole.choices[0].message.content or "", "".join(parts)

    whole, streamed = anyio.run(main)
    assert whole and streamed


@pytest.mark.parametrize(("request_", "error", "code"), [
    ({"model": "gpt-9", "messages": ASK}, openai.NotFoundError, "ROUTER_004"),
    ({"model": "auto", "messages": []}, openai.BadRequestError, "TASK_001"),
    ({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]},
     openai.BadRequestError, "TASK_001"),
])
def test_refusals_come_back_in_openais_shape_with_the_fleets_code(
        worker, gateway, request_: dict[str, Any], error: type[Exception], code: str) -> None:
    with pytest.raises(error) as info:
        sdk(gateway).chat.completions.create(**request_)
    assert info.value.code == code  # type: ignore[attr-defined]


def test_models_lists_auto_and_the_enabled_models(gateway) -> None:
    names = [m.id for m in sdk(gateway).models.list()]
    assert names[0] == "auto" and "claude-haiku-4" in names and "gpt-5-mini" not in names
