"""OpenAI Chat Completions streaming with the official SDK: OpenAI itself, Google Gemini through
its OpenAI-compatible endpoint, and any OpenAI-compatible server (vLLM, Ollama…) by base_url.
A task type's structured result is asked for with ``response_format`` and its JSON Schema."""

from __future__ import annotations

from collections.abc import Iterator
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
        self.client = openai.OpenAI(
            api_key=api_key, base_url=endpoint, max_retries=0,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))
        # OpenAI's own reasoning models refuse max_tokens; compatible servers only know it.
        self._limit_param = "max_completion_tokens" if model.provider == "openai" else "max_tokens"

    def _messages(self, request: CompletionRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": request.system},
                                          {"role": "user", "content": request.prompt}]
        if request.continuation:
            messages += [{"role": "assistant", "content": request.continuation},
                         {"role": "user", "content": CONTINUE_INSTRUCTION}]
        return messages

    def _create(self, request: CompletionRequest, **extra: Any) -> Any:
        schema = request.native_schema
        if schema is not None:
            # Not strict: strict mode wants every field required, and defaults are part of
            # the results' contract; the fleet validates the answer itself.
            extra["response_format"] = {"type": "json_schema", "json_schema": {
                "name": f"{request.result_type or 'result'}".replace("-", "_"),
                "schema": schema, "strict": False}}
        return self.client.chat.completions.create(  # type: ignore[call-overload]
            model=request.model.model, messages=self._messages(request),
            **{self._limit_param: request.max_output_tokens}, **extra)

    def _stream(self, request: CompletionRequest) -> Iterator[StreamItem]:
        usage = None
        finished = False
        with self._create(request, stream=True,
                          stream_options={"include_usage": True}) as chunks:
            for chunk in chunks:
                if chunk.choices:
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        yield TextDelta(choice.delta.content)
                    finished = finished or choice.finish_reason is not None
                if chunk.usage is not None:
                    usage = chunk.usage
        if not finished:
            raise ProviderCallError("stream ended without a finish_reason", retryable=True)
        if usage is not None:
            yield _usage(usage)

    def _complete(self, request: CompletionRequest) -> Iterator[StreamItem]:
        response = self._create(request)
        yield TextDelta(response.choices[0].message.content or "")
        if response.usage is not None:
            yield _usage(response.usage)


def _usage(usage: Any) -> TokenUsage:
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0)
    # OpenAI counts cached tokens inside prompt_tokens; we bill them at the cache price.
    return TokenUsage(input_tokens=max(0, usage.prompt_tokens - cached),
                      output_tokens=usage.completion_tokens, cached_tokens=cached)
