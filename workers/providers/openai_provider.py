"""OpenAI Chat Completions streaming with the official SDK: OpenAI itself, Google Gemini through
its OpenAI-compatible endpoint, and any OpenAI-compatible server (vLLM, Ollama…) by base_url.
A task type's structured result is asked for with ``response_format`` and its JSON Schema."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any

import httpx
import openai

from fleet.config import ModelConfig
from fleet.contracts import TokenUsage
from workers.providers.base import (
    CONTINUE_INSTRUCTION,
    CompletionRequest,
    ProviderCallError,
    StreamItem,
    TextDelta,
)
from workers.providers.sdk import SDKProvider

GEMINI_OPENAI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"


class OpenAIChatProvider(SDKProvider):
    status_error = openai.APIStatusError
    timeout_error = openai.APITimeoutError
    connection_error = openai.APIConnectionError

    def __init__(self, model: ModelConfig, api_key: str, endpoint: str | None,
                 timeout_s: float) -> None:
        self.name: str = model.provider
        if endpoint is None and model.provider == "google":
            endpoint = GEMINI_OPENAI_BASE_URL
        self._client_options: dict[str, Any] = {
            "api_key": api_key, "base_url": endpoint, "max_retries": 0,
            "timeout": httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))}
        self.client = openai.OpenAI(**self._client_options)
        self.aclient: openai.AsyncOpenAI | None = None
        # OpenAI's own reasoning models refuse max_tokens; compatible servers only know it.
        self._limit_param = "max_completion_tokens" if model.provider == "openai" else "max_tokens"

    def _messages(self, request: CompletionRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": request.system},
                                          {"role": "user", "content": request.prompt}]
        if request.continuation:
            messages += [{"role": "assistant", "content": request.continuation},
                         {"role": "user", "content": CONTINUE_INSTRUCTION}]
        return messages

    def _arguments(self, request: CompletionRequest, **extra: Any) -> dict[str, Any]:
        schema = request.native_schema
        if schema is not None:
            # Not strict: strict mode wants every field required, and defaults are part of
            # the results' contract; the fleet validates the answer itself.
            extra["response_format"] = {"type": "json_schema", "json_schema": {
                "name": f"{request.result_type or 'result'}".replace("-", "_"),
                "schema": schema, "strict": False}}
        return {"model": request.model.model, "messages": self._messages(request),
                self._limit_param: request.max_output_tokens, **extra}

    def _stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        reader = _Reader()
        with self.client.chat.completions.create(**self._arguments(request, **STREAMED)) as chunks:
            for chunk in chunks:
                if (delta := reader.take(chunk)) is not None:
                    yield delta
        yield from reader.end()

    async def _astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        reader = _Reader()
        async with await self._async_client().chat.completions.create(
                **self._arguments(request, **STREAMED)) as chunks:
            async for chunk in chunks:
                if (delta := reader.take(chunk)) is not None:
                    yield delta
        for item in reader.end():
            yield item

    def _complete(self, request: CompletionRequest) -> Iterator[StreamItem]:
        yield from _whole(self.client.chat.completions.create(**self._arguments(request)))

    async def _acomplete(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        response = await self._async_client().chat.completions.create(
            **self._arguments(request))
        for item in _whole(response):
            yield item

    def _async_client(self) -> openai.AsyncOpenAI:
        # Made on the engine's loop on first use: its connections belong to that loop.
        if self.aclient is None:
            self.aclient = openai.AsyncOpenAI(**self._client_options)
        return self.aclient


STREAMED: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}


class _Reader:
    """One streamed completion's chunks: the text as deltas, and the usage once it finished."""

    def __init__(self) -> None:
        self.usage: Any = None
        self.finished = False

    def take(self, chunk: Any) -> TextDelta | None:
        delta = None
        if chunk.choices:
            choice = chunk.choices[0]
            if choice.delta.content:
                delta = TextDelta(choice.delta.content)
            self.finished = self.finished or choice.finish_reason is not None
        if chunk.usage is not None:
            self.usage = chunk.usage
        return delta

    def end(self) -> Iterator[StreamItem]:
        if not self.finished:
            raise ProviderCallError("stream ended without a finish_reason", retryable=True)
        if self.usage is not None:
            yield _usage(self.usage)


def _whole(response: Any) -> Iterator[StreamItem]:
    yield TextDelta(response.choices[0].message.content or "")
    if response.usage is not None:
        yield _usage(response.usage)


def _usage(usage: Any) -> TokenUsage:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0)
    # OpenAI counts cached tokens inside prompt_tokens; we bill them at the cache price.
    return TokenUsage(input_tokens=max(0, usage.prompt_tokens - cached),
                      output_tokens=usage.completion_tokens, cached_tokens=cached)
