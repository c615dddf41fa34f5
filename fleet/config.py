"""Fleet configuration: the seed's §8 schema, loaded from YAML and overridden by environment.

Precedence, lowest first: built-in defaults (v1.0.4 behaviour: one model, no streaming), the YAML
file named by ``FLEET_CONFIG`` (default ``config/fleet.yaml`` when present), then the seed's
environment variables. Connection URLs and API keys live in :class:`Settings` and are
``SecretStr`` so they never reach logs, task arguments or ``fleet config check`` output.
"""

from __future__ import annotations

import os
import tempfile
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict

from fleet.errors import ConfigError

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
    credentials: Credentials = Field(default_factory=Credentials)


class FleetSection(CamelModel):
    id: str = "qe-fleet"
    name: str = "QE Fleet"
    max_agents: int = Field(default=50, gt=0)
    heartbeat_interval: int = Field(default=5000, gt=0)
    task_timeout: int = Field(default=600, gt=0, description="seconds a task may run")
    max_payload_bytes: int = Field(default=1 << 20, gt=0)
    redeliver_after: int = Field(default=120, gt=0, description=(
        "seconds a task may wait for a worker before its execute message is presumed lost "
        "and sent again (fleet/outbox.py)"))
    environment: str = "production"


class FeatureFlags(CamelModel):
    multi_model_router: bool = False
    streaming: bool = False


class FlagOverrides(CamelModel):
    agent_type: dict[str, dict[str, bool]] = Field(default_factory=dict)
    environment: dict[str, dict[str, bool]] = Field(default_factory=dict)


class FeaturesSection(FeatureFlags):
    overrides: FlagOverrides = Field(default_factory=FlagOverrides)


class ComplexityWeights(CamelModel):
    token_weighting: float = Field(default=0.4, ge=0, le=1)
    structure_weighting: float = Field(default=0.3, ge=0, le=1)
    context_weighting: float = Field(default=0.3, ge=0, le=1)


class BudgetLimits(CamelModel):
    daily: Money | None = Field(default=None, ge=0)
    weekly: Money | None = Field(default=None, ge=0)
    monthly: Money | None = Field(default=None, ge=0)


class AlertThresholds(CamelModel):
    daily_percent: float = Field(default=80, gt=0, le=100)
    monthly_percent: float = Field(default=90, gt=0, le=100)


class CostTracking(CamelModel):
    enabled: bool = False
    on_limit: Literal["block", "downgrade"] = Field(
        default="block", description="at 100 %: reject (ROUTER_002) or use a cheaper model")
    budget_limits: BudgetLimits = Field(default_factory=BudgetLimits)
    alert_thresholds: AlertThresholds = Field(default_factory=AlertThresholds)


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
    retry_config: RetryConfig = Field(default_factory=RetryConfig)
    circuit_breaker: CircuitBreakerConfig = Field(default_factory=CircuitBreakerConfig)


class FleetConfig(CamelModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore",
                              protected_namespaces=())

    fleet: FleetSection = Field(default_factory=FleetSection)
    features: FeaturesSection = Field(default_factory=FeaturesSection)
    routing: RoutingSection = Field(default_factory=RoutingSection)
    streaming: StreamingSection = Field(default_factory=StreamingSection)

    @property
    def router_active(self) -> bool:
        return self.features.multi_model_router and self.routing.enabled

    @property
    def streaming_active(self) -> bool:
        return self.features.streaming and self.streaming.enabled

    def enabled_models(self) -> list[ModelConfig]:
        return [m for m in self.routing.models if m.enabled]


class Settings(BaseSettings):
    """Process settings: where the services are, and secrets."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    fleet_broker_url: str = "redis://127.0.0.1:6379/0"
    fleet_redis_url: str = "redis://127.0.0.1:6379/0"
    # How often a Redis command is retried through a reconnect (backoff capped at 2 s; 20 is
    # about half a minute): how long a Redis outage may last before tasks fail.
    fleet_redis_retries: int = Field(default=20, ge=0, le=1000)
    fleet_result_backend: str | None = None
    fleet_database_url: SecretStr = SecretStr("postgresql://127.0.0.1:5432/fleet")
    fleet_simulate: bool = False
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    google_api_key: SecretStr | None = None
    fleet_gateway_token: SecretStr | None = None  # bearer token the HTTP gateway requires
    # Where a worker keeps cost rows while PostgreSQL and Redis are both away (fleet/hold.py):
    # a directory that outlives the process (systemd StateDirectory, a pod volume).
    fleet_hold_dir: Path = Path(tempfile.gettempdir()) / "qe-fleet-held"

    @property
    def result_backend(self) -> str:
        return self.fleet_result_backend or self.fleet_redis_url


# The seed's §8.2 variables, mapped onto config paths (camelCase, as in YAML).
ENV_OVERRIDES: dict[str, tuple[str, ...]] = {
    "FEATURE_MULTI_MODEL_ROUTER": ("features", "multiModelRouter"),
    "FEATURE_STREAMING": ("features", "streaming"),
    "ROUTING_ENABLED": ("routing", "enabled"),
    "ROUTING_DEFAULT_MODEL": ("routing", "defaultModel"),
    "COST_TRACKING_ENABLED": ("routing", "costTracking", "enabled"),
    "BUDGET_LIMIT_DAILY": ("routing", "costTracking", "budgetLimits", "daily"),
    "BUDGET_LIMIT_WEEKLY": ("routing", "costTracking", "budgetLimits", "weekly"),
    "BUDGET_LIMIT_MONTHLY": ("routing", "costTracking", "budgetLimits", "monthly"),
    "BUDGET_ALERT_DAILY_PERCENT": ("routing", "costTracking", "alertThresholds", "dailyPercent"),
    "BUDGET_ALERT_MONTHLY_PERCENT": (
        "routing", "costTracking", "alertThresholds", "monthlyPercent"),
    "STREAMING_ENABLED": ("streaming", "enabled"),
    "STREAMING_BUFFER_SIZE": ("streaming", "bufferSize"),
    "STREAMING_BACKPRESSURE_THRESHOLD": ("streaming", "backpressureThreshold"),
    "STREAMING_TIMEOUT_MS": ("streaming", "timeoutMs"),
    "BUDGET_ON_LIMIT": ("routing", "costTracking", "onLimit"),
    "FLEET_MAX_PAYLOAD_BYTES": ("fleet", "maxPayloadBytes"),
    "FLEET_TASK_TIMEOUT": ("fleet", "taskTimeout"),
    "FLEET_ENVIRONMENT": ("fleet", "environment"),
}


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    node = tree
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value  # pydantic coerces "true" / "80" / "0.8" with field-named errors


def _describe(exc: ValidationError, source: str) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(root)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{source}: field {where}: {first['msg']}{more}"


def default_config_path() -> Path | None:
    explicit = os.environ.get("FLEET_CONFIG")
    if explicit:
        return Path(explicit)
    candidate = Path("config/fleet.yaml")
    return candidate if candidate.exists() else None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return raw


def load_config(path: Path | None = None, environ: dict[str, str] | None = None) -> FleetConfig:
    """Build the effective config; raises :class:`ConfigError` naming the first bad field."""
    env = os.environ if environ is None else environ
    path = path if path is not None else default_config_path()
    tree = read_yaml(path) if path else {}
    applied = [name for name in ENV_OVERRIDES if env.get(name) not in (None, "")]
    for name in applied:
        _set_path(tree, ENV_OVERRIDES[name], env[name])
    try:
        return FleetConfig.model_validate(tree)
    except ValidationError as exc:
        source = str(path) if path else "defaults"
        if applied:
            source += " + env " + ",".join(applied)
        raise ConfigError(_describe(exc, source)) from None


@lru_cache(maxsize=1)
def get_config() -> FleetConfig:
    """The process-wide config, loaded once."""
    return load_config()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def masked_dump(config: FleetConfig, settings: Settings) -> dict[str, Any]:
    """The effective config and settings as JSON-able data, secrets masked."""
    out = config.model_dump(mode="json", by_alias=True)
    out["settings"] = {
        key: (("**********" if value.get_secret_value() else "") if isinstance(value, SecretStr)
              else (str(value) if value is not None else None))
        for key, value in settings
    }
    return out


def migrate_v104(old: dict[str, Any]) -> dict[str, Any]:
    """The seed's §9.3 migration: a v1.0.4 config gains disabled flags, routing and streaming."""
    new = dict(old)
    new["features"] = {"multiModelRouter": False, "streaming": False}
    ai_model = (old.get("ai") or {}).get("model") if isinstance(old.get("ai"), dict) else None
    if ai_model:
        new["routing"] = {
            "enabled": False,
            "defaultModel": ai_model,
            "models": [{
                "name": ai_model, "provider": "anthropic", "model": ai_model,
                "capabilities": {"maxTokens": 200000, "supportsStreaming": True,
                                 "costPer1mTokens": {"input": 3.00, "output": 15.00}},
                "complexityRange": {"min": 0, "max": 1},
                "enabled": True,
            }],
            "complexity": {"tokenWeighting": 0.4, "structureWeighting": 0.3,
                           "contextWeighting": 0.3},
            "costTracking": {"enabled": False},
        }
    new["streaming"] = {
        "enabled": False, "bufferSize": 1024, "backpressureThreshold": 0.8, "timeoutMs": 30000,
        "retryConfig": {"maxRetries": 3, "backoffMs": 1000, "backoffMultiplier": 2},
    }
    return new
