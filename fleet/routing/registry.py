"""ModelRegistry: the models the fleet may route to.

Models come from config; at run time models can be registered, enabled and disabled fleet-wide
through the Redis hash ``fleet:models`` (``fleet models …``). Every process sees a change within
one refresh (0.5 s).
"""

from __future__ import annotations

import redis

from fleet.backends.keys import MODELS as MODELS_KEY
from fleet.backends.snapshot import RedisHashSnapshot
from fleet.config import FleetConfig, ModelConfig
from fleet.errors import UnknownModel


class ModelRegistry:
    def __init__(self, models: list[ModelConfig], client: redis.Redis | None = None) -> None:
        """Without ``client`` only the configured models (no runtime changes)."""
        self._configured = {m.name: m for m in models}
        self._runtime = RedisHashSnapshot(MODELS_KEY, client) if client is not None else None
        self._parsed: dict[str, tuple[str, ModelConfig | None]] = {}

    @classmethod
    def from_config(cls, config: FleetConfig,
                    client: redis.Redis | None = None) -> ModelRegistry:
        return cls(config.routing.models, client)

    def _models(self) -> dict[str, ModelConfig]:
        models = dict(self._configured)
        if self._runtime is None:
            return models
        for field, raw in self._runtime.get_all().items():
            kind, _, name = field.partition(":")
            if kind == "model":
                cached = self._parsed.get(name)
                if cached is None or cached[0] != raw:
                    try:
                        cached = (raw, ModelConfig.model_validate_json(raw))
                    except ValueError:
                        cached = (raw, None)  # a bad registration must not break routing
                    self._parsed[name] = cached
                if cached[1] is not None:
                    models[name] = cached[1]
        for field, raw in self._runtime.get_all().items():
            kind, _, name = field.partition(":")
            if kind == "enabled" and name in models:
                models[name] = models[name].model_copy(update={"enabled": raw == "1"})
        return models

    def get(self, name: str) -> ModelConfig:
        try:
            return self._models()[name]
        except KeyError:
            raise UnknownModel(
                f"model {name!r} is not registered (known: {sorted(self._models())})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._models()

    def all(self) -> list[ModelConfig]:
        return list(self._models().values())

    # --- runtime changes, visible fleet-wide -------------------------------------------------

    def _require_runtime(self) -> RedisHashSnapshot:
        if self._runtime is None:
            raise RuntimeError("this registry was built without runtime state")
        return self._runtime

    def registered_at_run_time(self, name: str) -> bool:
        """Whether ``name`` was registered with ``fleet models register`` (not configured)."""
        return (name not in self._configured and self._runtime is not None
                and f"model:{name}" in self._runtime.get_all())

    def register(self, model: ModelConfig) -> None:
        self._require_runtime().set(f"model:{model.name}",
                                    model.model_dump_json(by_alias=True))

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.get(name)  # unknown names are an error, not a silent no-op
        self._require_runtime().set(f"enabled:{name}", "1" if enabled else "0")
