"""The fleet's data contracts, shaped like the seed's Appendix A JSON.

``QETask`` is what other services enqueue; ``ModelSelection``, ``StreamEvent`` and ``CostEntry``
are what the fleet emits. All are pydantic models serialised as JSON (camelCase where the seed
uses it, snake_case for the task payload, which is this fleet's own wire contract).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fleet.config.schema import CamelModel, ModelConfig

__all__ = [
    "ComplexityFactors", "ComplexityScore", "CostEntry", "EventType", "ModelConfig",
    "ModelSelection", "QETask", "SourceFile", "StreamEvent", "TaskType", "TokenUsage",
]

TASK_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
MAX_TASK_ID = 128
MAX_TEXT = 1 << 20  # per-field ceiling; the payload as a whole is bounded by maxPayloadBytes


class TaskType(StrEnum):
    TEST_GENERATION = "test-generation"
    COVERAGE_ANALYSIS = "coverage-analysis"
    QUALITY_GATE = "quality-gate"
    FLAKY_TEST_HUNTING = "flaky-test-hunting"
    SECURITY_REVIEW = "security-review"
    PERFORMANCE_TESTING = "performance-testing"
    REGRESSION_ANALYSIS = "regression-analysis"
    TEST_DATA_GENERATION = "test-data-generation"
    REQUIREMENTS_VALIDATION = "requirements-validation"
    CODE_REVIEW = "code-review"
    GENERAL = "general"


class SourceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1024)
    content: str = Field(default="", max_length=MAX_TEXT)
    language: str | None = Field(default=None, max_length=64)


class QETask(BaseModel):
    """A quality-engineering task, as enqueued on ``fleet.dispatch``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1,
                    max_length=MAX_TASK_ID, pattern=TASK_ID_PATTERN)
    type: TaskType
    description: str = Field(min_length=1, max_length=MAX_TEXT)
    code: str | None = Field(default=None, max_length=MAX_TEXT)
    language: str | None = Field(default=None, max_length=64)
    files: list[SourceFile] = Field(default_factory=list, max_length=1000)
    context: dict[str, Any] = Field(default_factory=dict)
    agent_id: str | None = Field(default=None, max_length=256)
    agent_type: str | None = Field(default=None, max_length=128)
    # On the Redis broker 0 is served first and 9 last (Celery's Redis convention).
    priority: int = Field(default=5, ge=0, le=9,
                          description="0 (most urgent, served first) to 9 (least)")
    stream: bool = True
    preferred_model: str | None = Field(default=None, max_length=100)
    max_output_tokens: int = Field(default=2048, gt=0, le=200_000)
    metadata: dict[str, Any] = Field(default_factory=dict)

    def all_code(self) -> list[tuple[str | None, str]]:
        """(language or path hint, source) for the inline code and every file."""
        out: list[tuple[str | None, str]] = []
        if self.code:
            out.append((self.language, self.code))
        out.extend((f.language or f.path, f.content) for f in self.files if f.content)
        return out


class ComplexityFactors(CamelModel):
    code_complexity: float | None = None
    data_size: float | None = None
    requires_reasoning: bool | None = None
    requires_creativity: bool | None = None


class ComplexityScore(CamelModel):
    overall: float = Field(ge=0, le=1)
    token_count: int = Field(ge=0)
    factors: ComplexityFactors = Field(default_factory=ComplexityFactors)
    explanation: str = ""


class ModelSelection(CamelModel):
    model_name: str
    model_config_: ModelConfig = Field(alias="modelConfig")
    complexity: ComplexityScore
    reason: str
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    fallback_models: list[str] = Field(default_factory=list)
    error_code: str | None = None
    latency_us: int = 0

    @property
    def queue(self) -> str:
        return queue_for(self.model_name)


def queue_for(model_name: str) -> str:
    return f"model.{model_name}"


EventType = Literal["start", "chunk", "progress", "fallback", "complete", "error"]
FINAL_EVENTS: frozenset[str] = frozenset({"complete", "error"})


class StreamEvent(BaseModel):
    """One event on ``fleet:stream:{<task_id>}``; ``seq`` runs 0, 1, 2 … with no gaps."""

    task_id: str
    seq: int = Field(ge=0)
    type: EventType
    model: str
    data: dict[str, Any] = Field(default_factory=dict)
    ts: float

    @property
    def final(self) -> bool:
        return self.type in FINAL_EVENTS


class TokenUsage(BaseModel):
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0, description="cache-read input tokens")
    cache_write_tokens: int = Field(default=0, ge=0)
    estimated: bool = False


class CostEntry(BaseModel):
    task_id: str
    attempt: int = Field(ge=1)
    segment: int = Field(default=0, ge=0, description="provider call within the attempt")
    model: str
    provider: str
    task_type: str
    agent_id: str | None = None
    usage: TokenUsage
    cost_usd: Decimal
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("cost_usd")
    @classmethod
    def _non_negative(cls, value: Decimal) -> Decimal:
        if value < 0:
            raise ValueError("cost cannot be negative")
        return value
