"""Router rules, registry and flags, in process (fakeredis stands in for the runtime hashes)."""

from __future__ import annotations

from decimal import Decimal

import fakeredis
import pytest

from fleet.config import ModelConfig, TokenPrices, load_config
from fleet.contracts import ComplexityScore, QETask
from fleet.errors import ModelSelectionFailed, UnknownModel
from fleet.routing.complexity import ComplexityAnalyzer
from fleet.routing.flags import FeatureFlagManager
from fleet.routing.registry import ModelRegistry
from fleet.routing.router import ModelRouter
from tests.config.test_config import SHIPPED


class FixedScore(ComplexityAnalyzer):
    def __init__(self, overall: float, tokens: int = 100) -> None:
        super().__init__()
        self.overall, self.tokens = overall, tokens

    def analyze(self, task: QETask) -> ComplexityScore:
        return ComplexityScore(overall=self.overall, token_count=self.tokens)


def make_router(overall: float = 0.5, tokens: int = 100, env: dict[str, str] | None = None,
                **hooks: object) -> ModelRouter:
    config = load_config(SHIPPED, environ={"FEATURE_MULTI_MODEL_ROUTER": "true",
                                           "FEATURE_STREAMING": "true"} | (env or {}))
    client = fakeredis.FakeRedis()
    return ModelRouter(config, ModelRegistry.from_config(config, client),
                       FixedScore(overall, tokens), FeatureFlagManager(config, client),
                       **hooks)  # type: ignore[arg-type]


def task(**fields: object) -> QETask:
    return QETask.model_validate({"type": "test-generation", "description": "x"} | fields)


@pytest.mark.parametrize(("overall", "model"), [
    (0.1, "claude-haiku-4"), (0.35, "claude-haiku-4"), (0.5, "claude-sonnet-4.5"),
    (0.75, "claude-sonnet-4.5"), (0.9, "claude-opus-4")])
def test_cheapest_model_whose_range_holds_the_score(overall: float, model: str) -> None:
    selection = make_router(overall).select_model(task())
    assert selection.model_name == model
    assert f"({overall:.2f})" in selection.reason
    assert selection.queue == f"model.{model}"


def test_fallbacks_are_the_other_eligible_models_capable_first() -> None:
    assert make_router(0.5).select_model(task()).fallback_models == [
        "claude-opus-4", "claude-haiku-4"]


def test_model_too_small_for_input_plus_output_is_skipped() -> None:
    router = make_router(0.2, tokens=150_000)
    small = ModelConfig.model_validate(
        router.registry.get("claude-haiku-4").model_dump() | {"capabilities": {
            "max_tokens": 160_000, "supports_streaming": True,
            "cost_per_1k_tokens": {"input": "0.0008", "output": "0.004"}}})
    router.registry.register(small)
    selection = router.select_model(task(max_output_tokens=20_000))
    assert selection.model_name == "claude-sonnet-4.5"  # nearest stronger: haiku cannot hold it
    assert "claude-haiku-4" not in selection.fallback_models


def test_nearest_stronger_model_when_no_range_holds_the_score() -> None:
    router = make_router(0.2)
    router.registry.set_enabled("claude-haiku-4", False)
    selection = router.select_model(task())
    assert selection.model_name == "claude-sonnet-4.5"
    assert "nearest stronger" in selection.reason


def test_streaming_task_skips_models_that_cannot_stream() -> None:
    router = make_router(0.1)
    haiku = router.registry.get("claude-haiku-4")
    router.registry.register(haiku.model_copy(update={"capabilities": haiku.capabilities
                                                      .model_copy(update={"supports_streaming":
                                                                          False})}))
    assert router.select_model(task(stream=True)).model_name == "claude-sonnet-4.5"
    assert router.select_model(task(stream=False)).model_name == "claude-haiku-4"


def test_circuit_open_and_unaffordable_models_are_skipped() -> None:
    router = make_router(0.1, is_available=lambda m: m.name != "claude-haiku-4")
    assert router.select_model(task()).model_name == "claude-sonnet-4.5"
    seen: list[Decimal] = []

    def affordable(model: ModelConfig, cost: Decimal) -> bool:
        seen.append(cost)
        return model.name == "claude-opus-4"

    assert make_router(0.1, is_affordable=affordable).select_model(task()).model_name == \
        "claude-opus-4"
    assert all(c > 0 for c in seen)


def test_preferred_model_is_honoured_when_eligible_and_explained_when_not() -> None:
    router = make_router(0.1)
    assert router.select_model(task(preferred_model="claude-opus-4")).model_name == \
        "claude-opus-4"
    router.registry.set_enabled("claude-opus-4", False)
    selection = router.select_model(task(preferred_model="claude-opus-4"))
    assert selection.model_name == "claude-haiku-4"
    assert "preferred model claude-opus-4 not used: disabled" in selection.reason


def test_unknown_preferred_model_is_an_error() -> None:
    with pytest.raises(UnknownModel, match="gpt-9"):
        make_router().select_model(task(preferred_model="gpt-9"))


def test_router_flag_off_uses_default_model() -> None:
    router = make_router(0.95, env={"FEATURE_MULTI_MODEL_ROUTER": "false"})
    selection = router.select_model(task())
    assert selection.model_name == "claude-sonnet-4.5" and selection.error_code is None
    assert "router disabled" in selection.reason


def test_no_eligible_model_degrades_to_default_with_router_001() -> None:
    selection = make_router(0.5, is_available=lambda m: False).select_model(task())
    assert selection.model_name == "claude-sonnet-4.5"
    assert selection.error_code == "ROUTER_001" and "ROUTER_001" in selection.reason


def test_router_001_skips_a_disabled_default_for_the_cheapest_enabled_model() -> None:
    router = make_router(0.5, is_available=lambda m: False)
    router.registry.set_enabled("claude-sonnet-4.5", False)  # the default
    selection = router.select_model(task())
    assert selection.model_name == "claude-haiku-4" and selection.error_code == "ROUTER_001"
    assert "cheapest enabled model that holds it" in selection.reason


def test_a_task_no_model_can_hold_is_refused_not_sent_to_the_default() -> None:
    """375k tokens: no model holds it, so nothing runs and nothing is billed."""
    router = make_router(0.5, tokens=375_000)
    with pytest.raises(ModelSelectionFailed) as refused:
        router.select_model(task())
    assert refused.value.code == "ROUTER_001" and "holds 200000" in refused.value.message


def test_ties_resolve_deterministically_by_name() -> None:
    router = make_router(0.1)
    twin = router.registry.get("claude-haiku-4").model_copy(update={"name": "a-haiku-twin"})
    router.registry.register(twin)
    assert {router.select_model(task()).model_name for _ in range(5)} == {"a-haiku-twin"}


def test_registry_changes_are_seen_by_other_instances() -> None:
    config = load_config(SHIPPED, environ={})
    client = fakeredis.FakeRedis()
    one, two = (ModelRegistry.from_config(config, client) for _ in range(2))
    two._runtime.refresh_seconds = 0  # type: ignore[union-attr]
    one.set_enabled("claude-opus-4", False)
    assert not two.get("claude-opus-4").enabled
    with pytest.raises(UnknownModel):
        one.set_enabled("nope", True)
    client.hset("fleet:models", "model:broken", "{not json")
    assert "broken" not in two  # a bad registration never breaks routing


def test_a_model_registered_at_run_time_waits_for_a_worker_on_its_queue() -> None:
    served: set[str] = set()
    router = make_router(0.1, is_served=lambda m: m.name in served)
    cheaper = router.registry.get("claude-haiku-4").model_copy(update={
        "name": "haiku-cheaper", "capabilities": router.registry.get("claude-haiku-4")
        .capabilities.model_copy(update={"cost_per_1k_tokens": TokenPrices(
            input=Decimal("0.0001"), output=Decimal("0.0005"))})})
    router.registry.register(cheaper)
    assert router.select_model(task()).model_name == "claude-haiku-4"  # configured: no check
    assert "no worker consumes its queue" in router._ineligibility(
        router.registry.get("haiku-cheaper"), task(), 100, False)
    served.add("haiku-cheaper")  # a worker announced model.haiku-cheaper
    assert router.select_model(task()).model_name == "haiku-cheaper"


def test_a_model_switched_on_by_its_key_waits_for_a_worker_too() -> None:
    served: set[str] = set()
    router = make_router(0.1, env={"OPENAI_API_KEY": "sk-test"},
                         is_served=lambda m: m.name in served)
    assert router.registry.get("gpt-5-mini").enabled
    assert router.select_model(task()).model_name == "claude-haiku-4"
    served.add("gpt-5-mini")
    assert router.select_model(task()).model_name == "gpt-5-mini"  # the cheapest, now served


def test_flag_precedence_environment_over_agent_type_over_global() -> None:
    config = load_config(SHIPPED, environ={"FEATURE_STREAMING": "true"})
    config.features.overrides.agent_type["security-scanner"] = {"streaming": False}
    flags = FeatureFlagManager(config, fakeredis.FakeRedis(), refresh_seconds=0)
    assert flags.is_enabled("streaming")
    assert not flags.is_enabled("streaming", agent_type="security-scanner")
    flags.set("streaming", True, environment="production")
    assert flags.is_enabled("streaming", agent_type="security-scanner")
    flags.set("streaming", False)  # runtime global beats config global
    assert not flags.is_enabled("streaming", agent_type="test-generator", environment="staging")
    flags.unset("streaming")
    assert flags.is_enabled("streaming", environment="staging")
    assert flags.runtime_values() == {"env=production:streaming": "on"}


def test_section_switch_gates_the_flag() -> None:
    config = load_config(SHIPPED, environ={"FEATURE_STREAMING": "true",
                                           "STREAMING_ENABLED": "false"})
    assert not FeatureFlagManager(config, fakeredis.FakeRedis()).is_enabled("streaming")
