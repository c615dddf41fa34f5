"""ModelRegistry: the models the fleet may route to, from config."""

from __future__ import annotations

from fleet.config import FleetConfig, ModelConfig
from fleet.errors import UnknownModel


class ModelRegistry:
    def __init__(self, models: list[ModelConfig]) -> None:
        self._models = {m.name: m for m in models}

    @classmethod
    def from_config(cls, config: FleetConfig) -> ModelRegistry:
        return cls(config.routing.models)

    def get(self, name: str) -> ModelConfig:
        try:
            return self._models[name]
        except KeyError:
            raise UnknownModel(
                f"model {name!r} is not registered (known: {sorted(self._models)})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._models

    def all(self) -> list[ModelConfig]:
        return list(self._models.values())

    def enabled(self) -> list[ModelConfig]:
        return [m for m in self._models.values() if m.enabled]
