"""FeatureFlagManager: global flags with per-agent-type and per-environment overrides (§6.1).

Precedence, highest first: environment override, agent-type override, global flag; at each level
a runtime value set with ``fleet flags set`` (Redis hash ``fleet:flags``) beats the config file.
A feature is on when its flag is on *and* its config section is enabled (``routing.enabled``,
``streaming.enabled``). Every process sees a runtime change within one refresh (0.5 s).
"""

from __future__ import annotations

from typing import Literal

import redis

from fleet.config import FleetConfig
from fleet.runtime import RedisHashSnapshot

Flag = Literal["multiModelRouter", "streaming"]
FLAGS: tuple[Flag, ...] = ("multiModelRouter", "streaming")
FLAGS_KEY = "fleet:flags"
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
                 refresh_seconds: float | None = None) -> None:
        self.config = config
        self._runtime = (RedisHashSnapshot(FLAGS_KEY, client, refresh_seconds)
                         if refresh_seconds is not None else RedisHashSnapshot(FLAGS_KEY, client))

    def _flag(self, flag: Flag, agent_type: str | None, environment: str | None) -> bool:
        runtime = self._runtime.get_all()
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
        self._runtime.set(runtime_field(flag, agent_type, environment), "on" if on else "off")

    def unset(self, flag: Flag, agent_type: str | None = None,
              environment: str | None = None) -> None:
        self._runtime.delete(runtime_field(flag, agent_type, environment))

    def runtime_values(self) -> dict[str, str]:
        self._runtime.invalidate()
        return dict(sorted(self._runtime.get_all().items()))
