"""The provider protocol: a model call that yields text deltas and ends with its usage.

Adapters translate their SDK's failures into :class:`ProviderCallError`, which says whether a
retry can help and how long the provider asked us to wait, so retry, fallback and the circuit
breaker are decided in one place (``workers.runner``) for every provider.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from fleet.config import ModelConfig
from fleet.contracts import TokenUsage

CONTINUE_INSTRUCTION = ("Continue exactly where your previous message stopped, mid-word if "
                        "need be. Do not repeat any of it and do not comment on it.")


@dataclass(frozen=True)
class CompletionRequest:
    task_id: str
    model: ModelConfig
    system: str
    prompt: str
    max_output_tokens: int
    stream: bool = True
    continuation: str = ""  # text already delivered: the model is asked to carry on from it
    reusable: int = 0  # the prompt's first characters are the task's material (cacheable)
    result_type: str | None = None  # the task type whose structured result is asked for
    # Its JSON Schema, when the model is asked for it natively (tool use / response_format).
    result_schema: dict[str, Any] | None = None

    @property
    def native_schema(self) -> dict[str, Any] | None:
        """The schema to enforce natively: not on a continuation, which carries on a JSON text
        already begun (the prompt asks for the JSON in text as well)."""
        return None if self.continuation else self.result_schema


@dataclass(frozen=True)
class TextDelta:
    text: str


StreamItem = TextDelta | TokenUsage


class ProviderCallError(Exception):
    """A failed model call. ``retryable``: the same call may succeed later; ``retry_after``:
    seconds the provider asked for; ``timeout``: the stream went silent."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 timeout: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.timeout = timeout
        self.status = status

    @property
    def reason(self) -> str:
        """A short label for metrics: the HTTP status, or timeout / connection / malformed /
        error."""
        if self.status:
            return str(self.status)
        if self.timeout:
            return "timeout"
        text = str(self)
        return next((kind for kind in ("connection", "malformed") if kind in text), "error")


class Provider(Protocol):
    """Yields ``TextDelta`` items as the model produces them, then one ``TokenUsage`` (omitted
    when the provider reports none). With ``request.stream`` False it may yield the whole text
    as a single delta."""

    name: str

    def stream(self, request: CompletionRequest) -> Iterator[StreamItem]: ...


@runtime_checkable
class AsyncProvider(Protocol):
    """A provider that can also be read on an event loop (``workers.engine``): the same items
    as ``stream``, awaited."""

    def astream(self, request: CompletionRequest) -> AsyncGenerator[StreamItem, None]: ...
