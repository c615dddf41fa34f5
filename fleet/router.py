"""ModelRouter: picks the cheapest enabled model whose complexity range fits the task."""

from __future__ import annotations

import time

from fleet.complexity import ComplexityAnalyzer
from fleet.config import FleetConfig, ModelConfig
from fleet.errors import UnknownModel
from fleet.models import ComplexityScore, ModelSelection, QETask
from fleet.registry import ModelRegistry


def blended_price(model: ModelConfig) -> float:
    prices = model.capabilities.cost_per_1k_tokens
    return float(prices.input + prices.output)


class ModelRouter:
    def __init__(self, config: FleetConfig, registry: ModelRegistry | None = None,
                 analyzer: ComplexityAnalyzer | None = None) -> None:
        self.config = config
        self.registry = registry or ModelRegistry.from_config(config)
        self.analyzer = analyzer or ComplexityAnalyzer(config.routing.complexity)

    def select_model(self, task: QETask) -> ModelSelection:
        started = time.perf_counter()
        if task.preferred_model is not None and task.preferred_model not in self.registry:
            raise UnknownModel(f"preferred_model {task.preferred_model!r} is not registered "
                               f"(known: {sorted(m.name for m in self.registry.all())})")
        complexity = self.analyzer.analyze(task)
        if not self.config.router_active:
            model = self.registry.get(self.config.routing.default_model)
            reason = "router disabled: default model"
        else:
            model, reason = self._choose(task, complexity)
        fallbacks = [m.name for m in sorted(self.registry.enabled(), key=blended_price)
                     if m.name != model.name]
        return ModelSelection(
            model_name=model.name, model_config_=model, complexity=complexity, reason=reason,
            fallback_models=fallbacks,
            latency_us=int((time.perf_counter() - started) * 1e6),
        )

    def _choose(self, task: QETask, complexity: ComplexityScore) -> tuple[ModelConfig, str]:
        score = complexity.overall
        candidates = sorted(self.registry.enabled(), key=lambda m: (blended_price(m), m.name))
        if task.preferred_model:
            preferred = self.registry.get(task.preferred_model)
            if preferred.enabled:
                return preferred, f"preferred model {preferred.name} honoured"
        fitting = [m for m in candidates if m.complexity_range.holds(score)]
        if fitting:
            m = fitting[0]
            return m, (f"Task complexity ({score:.2f}) fits {m.name}'s range "
                       f"({m.complexity_range.min}-{m.complexity_range.max}), cheapest fit")
        stronger = sorted((m for m in candidates if m.complexity_range.min > score),
                          key=lambda m: m.complexity_range.min)
        m = stronger[0] if stronger else candidates[-1]
        return m, f"no model range holds {score:.2f}: nearest stronger model {m.name}"
