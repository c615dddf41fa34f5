"""Anthropic Messages API, streamed with the official SDK (usage incl. cache tokens). A task
type's structured result is asked for as a forced tool call whose input schema is the result's;
its input JSON streams as the text."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Iterator
from typing import Any

import anthropic
import httpx
from anthropic.types import (
    InputJSONDelta,
    MessageParam,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextBlockParam,
)
from anthropic.types import TextDelta as TextDelta_

from fleet.config import ModelConfig
from fleet.contracts import TokenUsage
from fleet.routing.tokens import estimate_tokens
from workers.providers.base import CompletionRequest, ProviderCallError, StreamItem, TextDelta
from workers.providers.sdk import SDKProvider

RESULT_TOOL = "record_result"


def _tools(request: CompletionRequest) -> dict[str, Any]:
    """The forced tool call that carries the result, when it is asked for natively."""
    schema = request.native_schema
    if schema is None:
        return {}
    return {"tools": [{"name": RESULT_TOOL, "input_schema": schema,
                       "description": f"Record the {request.result_type} result."}],
            "tool_choice": {"type": "tool", "name": RESULT_TOOL}}


class AnthropicProvider(SDKProvider):
    name = "anthropic"
    status_error = anthropic.APIStatusError
    timeout_error = anthropic.APITimeoutError
    connection_error = anthropic.APIConnectionError

    def __init__(self, model: ModelConfig, api_key: str, endpoint: str | None,
                 timeout_s: float) -> None:
        # Retries belong to the fleet's runner (backoff, breaker, fallback), not the SDK.
        self._client_options: dict[str, Any] = {
            "api_key": api_key, "base_url": endpoint, "max_retries": 0,
            "timeout": httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))}
        self.client = anthropic.Anthropic(**self._client_options)
        self.aclient: anthropic.AsyncAnthropic | None = None

    def _messages(self, request: CompletionRequest) -> list[MessageParam]:
        messages: list[MessageParam] = [{"role": "user", "content": self._user(request)}]
        if request.continuation.strip():
            # An assistant prefill: Claude continues the text from exactly where it stops
            # (the API refuses trailing whitespace in a prefill).
            messages.append({"role": "assistant", "content": request.continuation.rstrip()})
        return messages

    @staticmethod
    def _user(request: CompletionRequest) -> str | list[TextBlockParam]:
        """The prompt, with its material marked for caching when the prefix up to it (system
        prompt and material) is long enough for the model to cache: a retry, a fallback's
        continuation or another task on the same code then reads it at the cache price."""
        material = request.prompt[:request.reusable]
        if not material or estimate_tokens(request.system + material) < \
                request.model.capabilities.min_cache_tokens:
            return request.prompt
        return [{"type": "text", "text": material, "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": request.prompt[request.reusable:]}]

    def _arguments(self, request: CompletionRequest) -> dict[str, Any]:
        return {"model": request.model.model, "max_tokens": request.max_output_tokens,
                "system": request.system, "messages": self._messages(request),
                **_tools(request)}

    def _stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        reader = _Reader()
        with self.client.messages.create(**self._arguments(request), stream=True) as events:
            for event in events:
                if (delta := reader.take(event)) is not None:
                    yield delta
        yield from reader.end()

    async def _astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        reader = _Reader()
        async with await self._async_client().messages.create(**self._arguments(request),
                                                              stream=True) as events:
            async for event in events:
                if (delta := reader.take(event)) is not None:
                    yield delta
        for item in reader.end():
            yield item

    def _complete(self, request: CompletionRequest) -> Iterator[StreamItem]:
        yield from _whole(self.client.messages.create(**self._arguments(request)))

    async def _acomplete(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]:
        message = await self._async_client().messages.create(**self._arguments(request))
        for item in _whole(message):
            yield item

    def _async_client(self) -> anthropic.AsyncAnthropic:
        # Made on the engine's loop on first use: its connections belong to that loop.
        if self.aclient is None:
            self.aclient = anthropic.AsyncAnthropic(**self._client_options)
        return self.aclient


class _Reader:
    """One streamed message's events: the text (or the result tool's JSON) as deltas, and its
    usage once it has stopped."""

    def __init__(self) -> None:
        self.usage: dict[str, int] = {}
        self.stopped = False

    def take(self, event: Any) -> TextDelta | None:
        if isinstance(event, RawContentBlockDeltaEvent):
            if isinstance(event.delta, TextDelta_):
                return TextDelta(event.delta.text)
            if isinstance(event.delta, InputJSONDelta):
                return TextDelta(event.delta.partial_json)
        elif isinstance(event, RawMessageStartEvent):
            u = event.message.usage
            self.usage.update(input_tokens=u.input_tokens,
                              cached_tokens=u.cache_read_input_tokens or 0,
                              cache_write_tokens=u.cache_creation_input_tokens or 0)
        elif isinstance(event, RawMessageDeltaEvent):
            self.usage["output_tokens"] = event.usage.output_tokens
        elif isinstance(event, RawMessageStopEvent):
            self.stopped = True
        return None

    def end(self) -> Iterator[StreamItem]:
        if not self.stopped:
            raise ProviderCallError("stream ended before message_stop", retryable=True)
        if "input_tokens" in self.usage and "output_tokens" in self.usage:
            yield TokenUsage(**self.usage)


def _whole(message: Any) -> Iterator[StreamItem]:
    """A message answered at once: its text (or the result tool's input) and its usage."""
    yield TextDelta("".join(b.text if b.type == "text" else json.dumps(b.input)
                            for b in message.content if b.type in ("text", "tool_use")))
    u = message.usage
    yield TokenUsage(input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                     cached_tokens=u.cache_read_input_tokens or 0,
                     cache_write_tokens=u.cache_creation_input_tokens or 0)
