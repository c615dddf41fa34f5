"""ModelRouter: the cheapest eligible model whose complexity range holds the task's score.

Eligible means enabled, large enough for the task's input plus its maximum output, able to
stream when the task streams, not circuit-open and affordable (the last two are hooks that the
streaming and budget components plug into). No model in range → the nearest stronger one.
Router off → the default model. Selection failing → ROUTER_001 recorded on the selection (the
seed's graceful degradation) and the default model, or, when the default is disabled or cannot
hold the task, the cheapest enabled model that can; when none can, ROUTER_001 is the caller's
error (nothing runs). An unknown ``preferred_model`` is the caller's error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal

from fleet.config import FleetConfig, ModelConfig
from fleet.contracts import ComplexityScore, ModelSelection, QETask
from fleet.costs.pricing import estimate
from fleet.errors import ModelSelectionFailed, UnknownModel
from fleet.routing.complexity import ComplexityAnalyzer
from fleet.routing.flags import FeatureFlagManager
from fleet.routing.registry import ModelRegistry

log = logging.getLogger("fleet.router")

AvailabilityCheck = Callable[[ModelConfig], bool]
AffordabilityCheck = Callable[[ModelConfig, Decimal], bool]


def always(*_: object) -> bool:
    return True


class ModelRouter:
    def __init__(self, config: FleetConfig, registry: ModelRegistry | None = None,
                 analyzer: ComplexityAnalyzer | None = None,
                 flags: FeatureFlagManager | None = None,
                 is_available: AvailabilityCheck = always,
                 is_affordable: AffordabilityCheck = always,
                 is_served: AvailabilityCheck = always) -> None:
        """Without ``registry`` and ``flags``: the configured models and flags only."""
        self.config = config
        self.registry = registry or ModelRegistry.from_config(config)
        self.analyzer = analyzer or ComplexityAnalyzer(config.routing.complexity)
        self.flags = flags or FeatureFlagManager(config)
        self.is_available = is_available
        self.is_affordable = is_affordable
        # Whether a worker consumes the model's queue: a model registered at run time, or one
        # switched on by its key (enabledIfKey), is only eligible once one does; the shipped
        # tiers' tasks wait in their queue for their workers, as Celery's do.
        self.is_served = is_served

    def select_model(self, task: QETask) -> ModelSelection:
        started = time.perf_counter()
        if task.preferred_model is not None and task.preferred_model not in self.registry:
            raise UnknownModel(f"preferred_model {task.preferred_model!r} is not registered "
                               f"(known: {sorted(m.name for m in self.registry.all())})")
        complexity = self.analyzer.analyze(task)
        error_code = None
        fallbacks: list[str]
        if not self.flags.is_enabled("multiModelRouter", task.agent_type):
            model, reason, fallbacks = self._default(), "router disabled: default model", []
        else:
            try:
                model, reason, fallbacks = self._choose(task, complexity)
            except ModelSelectionFailed as exc:
                model = self._last_resort(task, complexity.token_count, exc)
                log.warning("task %s: %s; using %s", task.id, exc, model.name)
                error_code, fallbacks = exc.code, []
                reason = (f"{exc.code}: {exc.message}; "
                          + ("default model" if model.name == self.config.routing.default_model
                             else f"{model.name}, the cheapest enabled model that holds it"))
        return ModelSelection(
            model_name=model.name, model_config_=model, complexity=complexity, reason=reason,
            fallback_models=fallbacks, error_code=error_code,
            latency_us=int((time.perf_counter() - started) * 1e6),
        )

    def _default(self) -> ModelConfig:
        return self.registry.get(self.config.routing.default_model)

    def _last_resort(self, task: QETask, input_tokens: int,
                     failed: ModelSelectionFailed) -> ModelConfig:
        """ROUTER_001's model: the default when it is enabled and holds the task, else the
        cheapest enabled model that does; none holds it → the error itself (nothing is
        called, nothing is billed)."""
        needed = input_tokens + task.max_output_tokens
        holding = [m for m in self.registry.all()
                   if m.enabled and needed <= m.capabilities.max_tokens]
        default = self._default()
        if default in holding:
            return default
        if not holding:
            raise failed
        return min(holding, key=lambda m: (estimate(m, input_tokens, task.max_output_tokens),
                                           m.name))

    def _ineligibility(self, model: ModelConfig, task: QETask, input_tokens: int,
                       streaming: bool) -> str | None:
        """Why ``model`` cannot take ``task``, or None when it can."""
        if not model.enabled:
            return "disabled"
        needed = input_tokens + task.max_output_tokens
        if needed > model.capabilities.max_tokens:
            return f"needs {needed} tokens, holds {model.capabilities.max_tokens}"
        if streaming and not model.capabilities.supports_streaming:
            return "cannot stream"
        if (model.enabled_if_key or self.registry.registered_at_run_time(model.name)) \
                and not self.is_served(model):
            return "no worker consumes its queue yet"
        if not self.is_available(model):
            return "circuit open"
        if not self.is_affordable(model, estimate(model, input_tokens, task.max_output_tokens)):
            return "over budget"
        return None

    def _choose(self, task: QETask,
                complexity: ComplexityScore) -> tuple[ModelConfig, str, list[str]]:
        score = complexity.overall
        streaming = task.stream and self.flags.is_enabled("streaming", task.agent_type)
        tokens = complexity.token_count

        def cost(m: ModelConfig) -> tuple[Decimal, str]:
            return estimate(m, tokens, task.max_output_tokens), m.name

        models = self.registry.all()
        eligible = sorted((m for m in models
                           if self._ineligibility(m, task, tokens, streaming) is None), key=cost)
        if not eligible:
            reasons = {m.name: self._ineligibility(m, task, tokens, streaming) for m in models}
            raise ModelSelectionFailed(f"no eligible model: {reasons}")

        preferred_note = ""
        if task.preferred_model:
            preferred = self.registry.get(task.preferred_model)
            why_not = self._ineligibility(preferred, task, tokens, streaming)
            if why_not is None:
                return preferred, f"preferred model {preferred.name} honoured", \
                    self._fallbacks(preferred, eligible, score)
            preferred_note = f"; preferred model {preferred.name} not used: {why_not}"

        fitting = [m for m in eligible if m.complexity_range.holds(score)]
        if fitting:
            model = fitting[0]
            reason = (f"Task complexity ({score:.2f}) fits {model.name}'s range "
                      f"({model.complexity_range.min}-{model.complexity_range.max}); "
                      f"cheapest of {len(fitting)} eligible in range")
        else:
            stronger = sorted((m for m in eligible if m.complexity_range.min > score),
                              key=lambda m: (m.complexity_range.min, *cost(m)))
            model = stronger[0] if stronger else max(
                eligible, key=lambda m: (m.complexity_range.max, m.name))
            reason = (f"no eligible model's range holds {score:.2f}; nearest "
                      f"{'stronger' if stronger else 'strongest'} model {model.name}")
        return model, reason + preferred_note, self._fallbacks(model, eligible, score)

    @staticmethod
    def _fallbacks(chosen: ModelConfig, eligible: list[ModelConfig], score: float) -> list[str]:
        """Other eligible models: those able to handle the score (cheapest first), then weaker
        ones from the strongest down."""
        others = [m for m in eligible if m.name != chosen.name]
        capable = [m for m in others if m.complexity_range.max >= score]
        weaker = sorted((m for m in others if m.complexity_range.max < score),
                        key=lambda m: -m.complexity_range.max)
        return [m.name for m in capable + weaker]
