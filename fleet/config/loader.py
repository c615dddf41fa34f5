"""The effective config: built-in defaults, then the YAML file, then the seed's §8.2 variables.

The YAML file is named by ``FLEET_CONFIG`` (default ``config/fleet.yaml`` when present). A bad
value raises :class:`ConfigError` naming its field and where it came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import SecretStr, ValidationError

from fleet.config.schema import FleetConfig
from fleet.config.settings import Settings
from fleet.errors import ConfigError, describe_invalid

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
    "BUDGET_ALERT_WEEKLY_PERCENT": (
        "routing", "costTracking", "alertThresholds", "weeklyPercent"),
    "BUDGET_ALERT_MONTHLY_PERCENT": (
        "routing", "costTracking", "alertThresholds", "monthlyPercent"),
    "STREAMING_ENABLED": ("streaming", "enabled"),
    "STREAMING_BUFFER_SIZE": ("streaming", "bufferSize"),
    "STREAMING_BACKPRESSURE_THRESHOLD": ("streaming", "backpressureThreshold"),
    "STREAMING_TIMEOUT_MS": ("streaming", "timeoutMs"),
    "STREAMING_ENGINE": ("streaming", "engine"),
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
        config = FleetConfig.model_validate(tree)
    except ValidationError as exc:
        source = str(path) if path else "defaults"
        if applied:
            source += " + env " + ",".join(applied)
        raise ConfigError(f"{source}: {describe_invalid(exc, limit=1, root='(root)')}") from None
    for model in config.routing.models:
        if model.enabled_if_key:
            model.enabled = bool(env.get(model.key_env))
    return config


def masked_dump(config: FleetConfig, settings: Settings) -> dict[str, Any]:
    """The effective config and settings as JSON-able data, secrets masked."""
    out = config.model_dump(mode="json", by_alias=True)
    out["settings"] = {
        key: (("**********" if value.get_secret_value() else "") if isinstance(value, SecretStr)
              else (str(value) if value is not None else None))
        for key, value in settings
    }
    return out
