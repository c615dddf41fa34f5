"""The provider protocol: a model call that yields text deltas and ends with its usage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from fleet.config import ModelConfig
from fleet.models import TokenUsage


@dataclass(frozen=True)
class CompletionRequest:
    task_id: str
    model: ModelConfig
    system: str
    prompt: str
    max_output_tokens: int


@dataclass(frozen=True)
class TextDelta:
    text: str


StreamItem = TextDelta | TokenUsage


class Provider(Protocol):
    """Yields ``TextDelta`` items as the model produces them, then one ``TokenUsage``."""

    name: str

    def stream(self, request: CompletionRequest) -> Iterator[StreamItem]: ...
