"""FeatureFlagManager: global flags with per-agent-type and per-environment overrides (§6.1).

Precedence, highest first: environment override, agent-type override, global flag; at each level
a runtime value set with ``fleet flags set`` (Redis hash ``fleet:flags``) beats the config file.
A feature is on when its flag is on *and* its config section is enabled (``routing.enabled``,
``streaming.enabled``). Every process sees a runtime change within one refresh (0.5 s).
"""

from __future__ import annotations

from typing import Literal

import redis

from fleet.backends.keys import FLAGS as FLAGS_KEY
from fleet.backends.snapshot import REFRESH_SECONDS, RedisHashSnapshot
from fleet.config import FleetConfig

Flag = Literal["multiModelRouter", "streaming"]
FLAGS: tuple[Flag, ...] = ("multiModelRouter", "streaming")
_CONFIG_ATTR = {"multiModelRouter": "multi_model_router", "streaming": "streaming"}


def runtime_field(flag: Flag, agent_type: str | None = None,
                  environment: str | None = None) -> str:
    if agent_type and environment:
        raise ValueError("an override is per agent type or per environment, not both")
    scope = (f"env={environment}" if environment else
             f"agent={agent_type}" if agent_type else "global")
    return f"{scope}:{flag}"


class FeatureFlagManager:
    def __init__(self, config: FleetConfig, client: redis.Redis | None = None,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        """Without ``client`` only the configured flags (no runtime values)."""
        self.config = config
        self._runtime = (RedisHashSnapshot(FLAGS_KEY, client, refresh_seconds)
                         if client is not None else None)

    def _flag(self, flag: Flag, agent_type: str | None, environment: str | None) -> bool:
        runtime = self._runtime.get_all() if self._runtime is not None else {}
        overrides = self.config.features.overrides
        # (runtime field, configured values) from the most specific level to the global one.
        levels: list[tuple[str, dict[str, bool]]] = []
        if environment:
            levels.append((runtime_field(flag, environment=environment),
                           overrides.environment.get(environment, {})))
        if agent_type:
            levels.append((runtime_field(flag, agent_type=agent_type),
                           overrides.agent_type.get(agent_type, {})))
        levels.append((runtime_field(flag),
                       {flag: bool(getattr(self.config.features, _CONFIG_ATTR[flag]))}))
        for field, configured in levels:
            value = runtime.get(field)
            if value is not None:
                return value == "on"
            if flag in configured:
                return configured[flag]
        return False

    def is_enabled(self, flag: Flag, agent_type: str | None = None,
                   environment: str | None = None) -> bool:
        environment = environment or self.config.fleet.environment
        section = (self.config.routing.enabled if flag == "multiModelRouter"
                   else self.config.streaming.enabled)
        return section and self._flag(flag, agent_type, environment)

    def set(self, flag: Flag, on: bool, agent_type: str | None = None,
            environment: str | None = None) -> None:
        self._require_runtime().set(runtime_field(flag, agent_type, environment),
                                    "on" if on else "off")

    def unset(self, flag: Flag, agent_type: str | None = None,
              environment: str | None = None) -> None:
        self._require_runtime().delete(runtime_field(flag, agent_type, environment))

    def runtime_values(self) -> dict[str, str]:
        runtime = self._require_runtime()
        runtime.invalidate()
        return dict(sorted(runtime.get_all().items()))

    def _require_runtime(self) -> RedisHashSnapshot:
        if self._runtime is None:
            raise RuntimeError("these flags were built without Redis (runtime values)")
        return self._runtime
