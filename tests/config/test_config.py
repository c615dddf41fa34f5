"""Config loading, environment overrides, validation errors and the §9.3 migration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from fleet.config import FleetConfig, Settings, load_config, masked_dump, migrate_v104
from fleet.errors import ConfigError
from fleet.routing.flags import FeatureFlagManager

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "fleet.yaml"


def on(cfg: FleetConfig, flag: str) -> bool:
    """Whether a feature is on for the fleet as configured (flag and section both on)."""
    return FeatureFlagManager(cfg).is_enabled(flag)  # type: ignore[arg-type]


def test_shipped_config_has_the_seeds_three_tiers_on_current_models() -> None:
    cfg = load_config(SHIPPED, environ={})
    per_million = {m.name: (m.model, m.capabilities.cost_per_1k_tokens.input * 1000,
                            m.capabilities.cost_per_1k_tokens.output * 1000)
                   for m in cfg.enabled_models()}
    assert per_million == {
        "claude-opus-4": ("claude-opus-4-5-20251101", Decimal("5.00"), Decimal("25.00")),
        "claude-sonnet-4.5": ("claude-sonnet-4-5-20250929", Decimal("3.00"), Decimal("15.00")),
        "claude-haiku-4": ("claude-haiku-4-5-20251001", Decimal("1.00"), Decimal("5.00"))}
    # v1.0.4 behaviour by default
    assert not on(cfg, "multiModelRouter") and not on(cfg, "streaming")


def test_other_providers_models_switch_on_with_their_key_only() -> None:
    """One provider's key is enough to run the shipped config: the OpenAI and Google models
    are on only when their own key is set."""
    def enabled(**keys: str) -> set[str]:
        return {m.name for m in load_config(SHIPPED, environ=keys).enabled_models()}

    tiers = {"claude-opus-4", "claude-sonnet-4.5", "claude-haiku-4"}
    assert enabled() == tiers
    assert enabled(OPENAI_API_KEY="sk-test") == tiers | {"gpt-5-mini"}
    assert enabled(GOOGLE_API_KEY="g-test") == tiers | {"gemini-2.5-flash"}


def _sdk_literals(annotation: object) -> set[str]:
    """Every string literal in a type alias (the model names an SDK lists)."""
    if typing.get_origin(annotation) is typing.Literal:
        return {a for a in typing.get_args(annotation) if isinstance(a, str)}
    return set().union(*(_sdk_literals(a) for a in typing.get_args(annotation)))


def test_every_shipped_model_id_is_one_the_providers_sdk_names() -> None:
    """A typo in a model id is a 404 on the first real call: check each Anthropic and OpenAI
    id against the literals of the installed SDK."""
    from anthropic.types import ModelParam
    from openai.types import ChatModel

    known = {"anthropic": _sdk_literals(ModelParam), "openai": _sdk_literals(ChatModel)}
    assert known["anthropic"] and known["openai"]
    shipped = [(m.provider, m.model) for m in load_config(SHIPPED, environ={}).routing.models
               if m.provider in known]
    assert {p for p, _ in shipped} == {"anthropic", "openai"}
    assert [(p, model) for p, model in shipped if model not in known[p]] == []


def test_without_a_file_the_defaults_are_one_model_and_no_router() -> None:
    cfg = FleetConfig()
    assert [m.name for m in cfg.routing.models] == ["claude-sonnet-4.5"]
    assert not on(cfg, "multiModelRouter")


def test_seed_environment_variables_override_yaml() -> None:
    cfg = load_config(SHIPPED, environ={
        "FEATURE_MULTI_MODEL_ROUTER": "true", "FEATURE_STREAMING": "1",
        "ROUTING_DEFAULT_MODEL": "claude-haiku-4", "BUDGET_LIMIT_DAILY": "12.50",
        "BUDGET_LIMIT_MONTHLY": "300", "BUDGET_ALERT_DAILY_PERCENT": "70",
        "STREAMING_BUFFER_SIZE": "64", "STREAMING_BACKPRESSURE_THRESHOLD": "0.5",
        "STREAMING_TIMEOUT_MS": "1000", "COST_TRACKING_ENABLED": "false",
    })
    assert on(cfg, "multiModelRouter") and on(cfg, "streaming")
    assert cfg.routing.default_model == "claude-haiku-4"
    assert cfg.routing.cost_tracking.budget_limits.daily == Decimal("12.50")
    assert cfg.routing.cost_tracking.budget_limits.monthly == Decimal("300")
    assert cfg.routing.cost_tracking.alert_thresholds.daily_percent == 70
    assert (cfg.streaming.buffer_size, cfg.streaming.backpressure_threshold,
            cfg.streaming.timeout_ms) == (64, 0.5, 1000)
    assert not cfg.routing.cost_tracking.enabled


@pytest.mark.parametrize(("env", "field"), [
    ({"STREAMING_BUFFER_SIZE": "lots"}, "streaming.bufferSize"),
    ({"STREAMING_BACKPRESSURE_THRESHOLD": "1.5"}, "streaming.backpressureThreshold"),
    ({"ROUTING_DEFAULT_MODEL": "gpt-9"}, "routing"),
    ({"FEATURE_STREAMING": "maybe"}, "features.streaming"),
])
def test_invalid_values_name_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(SHIPPED, environ=env)
    assert f"field {field}" in str(info.value)
    assert info.value.code == "CONFIG_001"


def test_invalid_yaml_field_names_the_model(tmp_path: Path) -> None:
    bad = yaml.safe_load(SHIPPED.read_text())
    bad["routing"]["models"][1]["complexityRange"] = {"min": 0.9, "max": 0.1}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"routing\.models\.1\.complexityRange"):
        load_config(path, environ={})


def test_cli_exits_2_with_one_line_on_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("streaming: {bufferSize: -1}\n")
    for argv in (["fleet.cli", "config", "check"],
                 ["celery", "-A", "fleet.app", "worker", "--help"]):
        proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True,
                              text=True, env={**os.environ, "FLEET_CONFIG": str(path)},
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "streaming.bufferSize" in proc.stderr
        assert "Traceback" not in proc.stderr


def test_config_check_masks_secrets() -> None:
    settings = Settings(anthropic_api_key="sk-ant-secret-value",
                        fleet_database_url="postgresql://u:pw@h/db")
    dumped = json.dumps(masked_dump(load_config(SHIPPED, environ={}), settings))
    assert "sk-ant-secret-value" not in dumped and "pw@h" not in dumped
    assert "**********" in dumped
    assert "sk-ant" not in repr(settings)


def test_migrate_v104_matches_seed_section_9_3() -> None:
    old = {"fleet": {"id": "f1", "name": "F"}, "ai": {"model": "claude-sonnet-4.5"}}
    new = migrate_v104(old)
    assert new["features"] == {"multiModelRouter": False, "streaming": False}
    assert new["routing"]["defaultModel"] == "claude-sonnet-4.5"
    assert new["routing"]["models"][0]["complexityRange"] == {"min": 0, "max": 1}
    assert new["streaming"]["retryConfig"] == {"maxRetries": 3, "backoffMs": 1000,
                                               "backoffMultiplier": 2}
    cfg = FleetConfig.model_validate(new)
    assert not on(cfg, "multiModelRouter") and cfg.routing.default_model == "claude-sonnet-4.5"
    assert "routing" not in migrate_v104({"fleet": {"id": "f"}})
