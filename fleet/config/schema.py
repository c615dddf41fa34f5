"""The fleet's configuration schema: the seed's §8 sections as pydantic models (camelCase in
YAML)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

Provider = Literal["anthropic", "openai", "google", "openai-compatible", "simulated"]




class CamelModel(BaseModel):
    """Accepts and emits the seed's camelCase keys; Python code uses snake_case."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                              protected_namespaces=())


# Exact in Python, a plain number in JSON (as in the seed's Appendix A).
Money = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


class TokenPrices(CamelModel):
    input: Money = Field(ge=0)
    output: Money = Field(ge=0)
    cache_read: Money | None = Field(default=None, ge=0)
    cache_write: Money | None = Field(default=None, ge=0)


class Capabilities(CamelModel):
    """A model's limits and prices.

    Prices are per 1k tokens (the seed's ``costPer1kTokens`` and its formula). Providers list
    prices per million tokens, and the seed's example numbers (Sonnet 3.00 / 15.00) are those
    per-million list prices, so ``costPer1mTokens`` is accepted too and converted exactly.
    """

    max_tokens: int = Field(gt=0)
    supports_streaming: bool = True
    structured_output: bool = Field(default=True, description=(
        "ask for a task type's result natively: Anthropic tool use, OpenAI response_format "
        "with a JSON Schema (turn off for an OpenAI-compatible server without it)"))
    min_cache_tokens: int = Field(default=1024, gt=0, description=(
        "the shortest prompt prefix the provider caches (Anthropic: 1024 for Sonnet 4.5, "
        "4096 for Opus 4.5 and Haiku 4.5)"))
    cost_per_1k_tokens: TokenPrices = Field(alias="costPer1kTokens")

    @model_validator(mode="before")
    @classmethod
    def _per_million(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "costPer1mTokens" not in data:
            return data
        if "costPer1kTokens" in data or "cost_per_1k_tokens" in data:
            raise ValueError("give costPer1kTokens or costPer1mTokens, not both")
        per_m = data["costPer1mTokens"]
        if not isinstance(per_m, dict):
            raise ValueError("costPer1mTokens must be a mapping")
        rest = {k: v for k, v in data.items() if k != "costPer1mTokens"}
        return rest | {"costPer1kTokens": {
            key: (Decimal(str(value)) / 1000 if isinstance(value, int | float | str) else value)
            for key, value in per_m.items()}}


class ComplexityRange(CamelModel):
    min: float = Field(ge=0, le=1)
    max: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ComplexityRange:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def holds(self, score: float) -> bool:
        return self.min <= score <= self.max


class Credentials(CamelModel):
    """Where a model's key comes from: an environment variable *name*, never the key itself."""

    api_key_env: str | None = None
    endpoint: str | None = None


class ModelConfig(CamelModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    provider: Provider
    model: str = Field(min_length=1)
    capabilities: Capabilities
    complexity_range: ComplexityRange
    enabled: bool = True
    enabled_if_key: bool = Field(default=False, description=(
        "on only when its API key variable is set (a provider the fleet may not have a key "
        "for): the loader sets ``enabled`` from the environment"))
    credentials: Credentials = Field(default_factory=Credentials)

    @property
    def key_env(self) -> str:
        """The environment variable holding this model's API key (never the key itself)."""
        return self.credentials.api_key_env or f"{self.provider.upper().replace('-', '_')}_API_KEY"


class FleetSection(CamelModel):
    id: str = "qe-fleet"
    name: str = "QE Fleet"
    max_agents: int = Field(default=50, gt=0)
    heartbeat_interval: int = Field(default=5000, gt=0)
    task_timeout: int = Field(default=600, gt=0, description="seconds a task may run")
    max_payload_bytes: int = Field(default=1 << 20, gt=0)
    redeliver_after: int = Field(default=120, gt=0, description=(
        "seconds a task may wait for a worker before its execute message is presumed lost "
        "and sent again (fleet/dispatch/outbox.py)"))
    environment: str = "production"


class FeatureFlags(CamelModel):
    multi_model_router: bool = False
    streaming: bool = False


class FlagOverrides(CamelModel):
    agent_type: dict[str, dict[str, bool]] = Field(default_factory=dict)
    environment: dict[str, dict[str, bool]] = Field(default_factory=dict)


class FeaturesSection(FeatureFlags):
    overrides: FlagOverrides = Field(default_factory=FlagOverrides)


class BlendWeights(CamelModel):
    """How the three parts of the score add up (before the stretch onto [0, 1])."""

    prior: float = Field(default=0.25, ge=0, le=1, description="the task type's prior")
    demand: float = Field(default=0.45, ge=0, le=1, description="what the text asks for")
    content: float = Field(default=0.30, ge=0, le=1, description="size, structure, context")


class SignalWeights(CamelModel):
    """Weights of the text-demand signals (fleet/routing/signals), as added to its raw sum."""

    quantitative: float = 0.6
    expert: float = 0.3
    quotes: float = 0.3
    negation: float = 0.3
    hard_topics: float = 0.3
    # The kind of request, as a whole: up for programming, logic and hard QE cues, down for
    # creative writing and simple look-ups (cheap models do those well).
    software_request: float = 1.5
    logical_request: float = 0.5
    hard_qe_request: float = 0.5
    creative_request: float = 1.5
    simple_request: float = 1.0
    numeric_options: float = 5.0
    option_overlap: float = 2.0
    cloze: float = 1.0
    combined_option: float = 1.0
    statement_options: float = 0.5
    comparative: float = 1.0
    recall: float = 1.5
    relational: float = 2.25
    logic_symbols: float = 0.6
    # A QE task asking about a hard property (concurrency, exploits, nondeterminism…): its
    # difficulty lies in the domain, not in the length of the request.
    hard_property: float = 2.0


DEFAULT_TYPE_PRIORS = {
    "quality-gate": 0.15, "test-data-generation": 0.25, "coverage-analysis": 0.35,
    "general": 0.4, "requirements-validation": 0.4, "code-review": 0.45, "test-generation": 0.5,
    "regression-analysis": 0.5, "performance-testing": 0.55, "flaky-test-hunting": 0.7,
    "security-review": 0.7,
}


class ComplexityWeights(CamelModel):
    """``routing.complexity``: every weight of the complexity score, today's as defaults, so an
    operator can tune without a release (``fleet routing explain`` shows each term)."""

    token_weighting: float = Field(default=0.4, ge=0, le=1)
    structure_weighting: float = Field(default=0.3, ge=0, le=1)
    context_weighting: float = Field(default=0.3, ge=0, le=1)
    blend: BlendWeights = Field(default_factory=BlendWeights)
    signals: SignalWeights = Field(default_factory=SignalWeights)
    type_priors: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TYPE_PRIORS))
    # Share of the length terms a type whose answer is a decision over given facts keeps.
    type_length: dict[str, float] = Field(default_factory=lambda: {"quality-gate": 0.5})
    # The prior of a QE task that asks about a hard property, whatever its type's: a gate on
    # whether retries keep writes idempotent is not a summary of test results.
    hard_property_prior: float = Field(default=0.6, ge=0, le=1)
    demand_center: float = Field(default=4.5, description="raw demand of a typical request")
    demand_scale: float = Field(default=1.2, gt=0)
    length_damping: float = Field(default=0.5, ge=0, le=1, description=(
        "share of the length terms a simple request (summarise, translate…) loses"))
    discount_fade: float = Field(default=2.0, ge=0)
    stretch_center: float = 0.40
    stretch_slope: float = Field(default=8.0, gt=0)

    @field_validator("type_priors")
    @classmethod
    def _all_types(cls, priors: dict[str, float]) -> dict[str, float]:
        return DEFAULT_TYPE_PRIORS | priors  # a partial table overrides the defaults it names


class BudgetLimits(CamelModel):
    daily: Money | None = Field(default=None, ge=0)
    weekly: Money | None = Field(default=None, ge=0)
    monthly: Money | None = Field(default=None, ge=0)


class AlertThresholds(CamelModel):
    daily_percent: float = Field(default=80, gt=0, le=100)
    weekly_percent: float = Field(default=85, gt=0, le=100)
    monthly_percent: float = Field(default=90, gt=0, le=100)


class CostTracking(CamelModel):
    enabled: bool = False
    on_limit: Literal["block", "downgrade"] = Field(
        default="block", description="at 100 %: reject (ROUTER_002) or use a cheaper model")
    budget_limits: BudgetLimits = Field(default_factory=BudgetLimits)
    alert_thresholds: AlertThresholds = Field(default_factory=AlertThresholds)
    raw_retention_days: int = Field(default=30, ge=1, description=(
        "days cost rows are kept; older days are read from the daily summaries"))
    summary_retention_days: int = Field(default=400, ge=35, description=(
        "days daily cost summaries are kept: budgets and reports of longer periods read them"))


DEFAULT_MODEL = ModelConfig(
    name="claude-sonnet-4.5", provider="anthropic", model="claude-sonnet-4-5-20250929",
    capabilities=Capabilities(
        max_tokens=200_000, supports_streaming=True,
        cost_per_1k_tokens=TokenPrices(input=Decimal("0.003"), output=Decimal("0.015")),
    ),
    complexity_range=ComplexityRange(min=0.0, max=1.0),
)


class RoutingSection(CamelModel):
    enabled: bool = False
    default_model: str = DEFAULT_MODEL.name
    models: list[ModelConfig] = Field(default_factory=lambda: [DEFAULT_MODEL], min_length=1)
    complexity: ComplexityWeights = Field(default_factory=ComplexityWeights)
    cost_tracking: CostTracking = Field(default_factory=CostTracking)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingSection:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate model names in {names}")
        if self.default_model not in names:
            raise ValueError(f"defaultModel {self.default_model!r} is not one of {names}")
        return self

    def model(self, name: str) -> ModelConfig | None:
        return next((m for m in self.models if m.name == name), None)


class RetryConfig(CamelModel):
    max_retries: int = Field(default=3, ge=0, le=20)
    backoff_ms: int = Field(default=1000, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)


class CircuitBreakerConfig(CamelModel):
    failure_threshold: int = Field(default=5, ge=1)
    cooldown_ms: int = Field(default=30_000, ge=0)


class StreamingSection(CamelModel):
    enabled: bool = False
    buffer_size: int = Field(default=1024, gt=0)
    backpressure_threshold: float = Field(default=0.8, gt=0, le=1)
    timeout_ms: int = Field(default=30_000, gt=0)
    flush_ms: int = Field(default=20, ge=0, description="coalesce tokens for at most this long")
    flush_chars: int = Field(default=256, gt=0, description="flush a chunk at this many chars")
    engine: Literal["threads", "asyncio"] = Field(
        default="asyncio", description="who reads the model streams of a worker process: each "
        "task's own thread, or one event loop for all of them (workers.engine)")
    retry_config: RetryConfig = Field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)


class SandboxLimits(CamelModel):
    """What generated code may use when it is run (``verify: run``)."""

    cpu_seconds: int = Field(default=20, gt=0, le=600)
    memory_mb: int = Field(default=1024, ge=64, le=16384, description="address space")
    wall_seconds: int = Field(default=60, gt=0, le=1800)
    file_mb: int = Field(default=16, gt=0, le=1024, description="largest file it may write")
    allow_network: bool = Field(default=False, description=(
        "run even where the network cannot be cut off (no unshare -rn): leave off"))


class QESection(CamelModel):
    verify: Literal["off", "run"] = Field(default="off", description=(
        "run generated Python tests against the code in a sandbox; a task's "
        "context.verify overrides it"))
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)


class FleetConfig(CamelModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              protected_namespaces=())

    fleet: FleetSection = Field(default_factory=FleetSection)
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    routing: RoutingSection = Field(default_factory=RoutingSection)
    streaming: StreamingSection = Field(default_factory=StreamingSection)
    qe: QESection = Field(default_factory=QESection)

    def enabled_models(self) -> list[ModelConfig]:
        return [m for m in self.routing.models if m.enabled]
