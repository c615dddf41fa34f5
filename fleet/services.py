"""The one process-wide object: config, settings, clients and the components built on them.

Everything a fleet process shares (the Redis client, the PostgreSQL pool, the stream relay, the
budget ledger, the router …) is built on first use by :class:`Services` and kept there, instead
of in module globals; ``get_services()`` is the process's, ``set_services()`` swaps it (a test,
a benchmark against other settings). Importing this module loads no client library.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from fleet.config import FleetConfig, Settings, load_config

if TYPE_CHECKING:
    import redis

    from fleet.backends.postgres import Database
    from fleet.backends.replication import Replication
    from fleet.backends.scripts import Scripts
    from fleet.costs.budget import BudgetLedger
    from fleet.costs.tracker import CostTracker
    from fleet.routing.breaker import CircuitBreaker
    from fleet.routing.consumers import QueueConsumers
    from fleet.routing.flags import FeatureFlagManager
    from fleet.routing.registry import ModelRegistry
    from fleet.routing.router import ModelRouter
    from fleet.streaming.relay import StreamRelay

T = TypeVar("T")


class Services:
    def __init__(self, config: FleetConfig | None = None, settings: Settings | None = None,
                 **components: Any) -> None:
        """``components``: ready-made ones by name (a test's ``costs=StubCostTracker()``)."""
        self._built: dict[str, Any] = dict(components)
        if config is not None:
            self._built["config"] = config
        if settings is not None:
            self._built["settings"] = settings
        self._lock = threading.RLock()

    def component(self, name: str, build: Callable[[], T]) -> T:
        """The process's ``name``, built by ``build`` on first use (once, whatever the
        threads). Upper layers keep their own shared objects here too (the lease keeper)."""
        try:
            return cast(T, self._built[name])
        except KeyError:
            with self._lock:
                if name not in self._built:
                    self._built[name] = build()
                return cast(T, self._built[name])

    def close(self) -> None:
        """Close what holds connections open (the PostgreSQL pool); threads are daemons."""
        database = self._built.get("db")
        if database is not None:
            database.close()

    @property
    def config(self) -> FleetConfig:
        return self.component("config", load_config)

    @property
    def settings(self) -> Settings:
        return self.component("settings", Settings)

    @property
    def redis(self) -> redis.Redis:
        def build() -> redis.Redis:
            from fleet.backends.redis import connect

            return connect(self.settings.fleet_redis_url, self.settings.fleet_redis_retries)

        return self.component("redis", build)

    @property
    def scripts(self) -> Scripts:
        def build() -> Scripts:
            from fleet.backends.scripts import Scripts

            return Scripts(self.redis)

        return self.component("scripts", build)

    @property
    def replication(self) -> Replication:
        def build() -> Replication:
            from fleet.backends.replication import Replication

            return Replication(self.redis, self.settings.fleet_redis_wait_replicas,
                               self.settings.fleet_redis_wait_ms)

        return self.component("replication", build)

    @property
    def db(self) -> Database:
        def build() -> Database:
            from fleet.backends.postgres import Database

            return Database(self.settings.fleet_database_url.get_secret_value())

        return self.component("db", build)

    @property
    def relay(self) -> StreamRelay:
        def build() -> StreamRelay:
            from fleet.streaming.relay import StreamRelay

            return StreamRelay(self.redis, self.scripts["publish"], self.replication)

        return self.component("relay", build)

    @property
    def flags(self) -> FeatureFlagManager:
        def build() -> FeatureFlagManager:
            from fleet.routing.flags import FeatureFlagManager

            return FeatureFlagManager(self.config, self.redis)

        return self.component("flags", build)

    @property
    def registry(self) -> ModelRegistry:
        def build() -> ModelRegistry:
            from fleet.routing.registry import ModelRegistry

            return ModelRegistry.from_config(self.config, self.redis)

        return self.component("registry", build)

    @property
    def breaker(self) -> CircuitBreaker:
        def build() -> CircuitBreaker:
            from fleet.routing.breaker import CircuitBreaker

            settings = self.config.streaming.circuit_breaker
            return CircuitBreaker(self.redis, self.scripts["breaker"],
                                  failure_threshold=settings.failure_threshold,
                                  cooldown_ms=settings.cooldown_ms)

        return self.component("breaker", build)

    @property
    def ledger(self) -> BudgetLedger:
        def build() -> BudgetLedger:
            from fleet.costs.budget import BudgetLedger

            return BudgetLedger(self.config.routing.cost_tracking, self.redis, self.scripts,
                                self.db, reservation_ttl_s=self.config.fleet.task_timeout * 2 + 60,
                                replication=self.replication)

        return self.component("ledger", build)

    @property
    def router(self) -> ModelRouter:
        def build() -> ModelRouter:
            from fleet.costs.budget import RemainingBudget
            from fleet.routing.router import ModelRouter, always

            ledger = self.ledger
            downgrade = ledger.active and ledger.settings.on_limit == "downgrade"
            return ModelRouter(self.config, registry=self.registry, flags=self.flags,
                               is_available=self.breaker.is_available,
                               is_affordable=RemainingBudget(ledger).affords if downgrade
                               else always, is_served=self.consumers.serves)

        return self.component("router", build)

    @property
    def consumers(self) -> QueueConsumers:
        def build() -> QueueConsumers:
            from fleet.routing.consumers import QueueConsumers

            return QueueConsumers(self.redis)

        return self.component("consumers", build)

    @property
    def costs(self) -> CostTracker:
        def build() -> CostTracker:
            from fleet.costs.tracker import CostTracker

            return CostTracker(self.db, self.redis, self.settings.fleet_hold_dir)

        return self.component("costs", build)


_current: Services | None = None
_current_lock = threading.Lock()


def get_services() -> Services:
    """The process's :class:`Services` (built on first use from the environment)."""
    current = _current
    if current is None:
        with _current_lock:
            if _current is None:
                set_services(Services())
            current = _current
    assert current is not None
    return current


def set_services(services: Services | None) -> Services | None:
    """Make ``services`` the process's (None: build anew on next use); returns the previous."""
    global _current
    previous, _current = _current, services
    return previous


def get_config() -> FleetConfig:
    """The process's fleet config, loaded once."""
    return get_services().config


def get_settings() -> Settings:
    """The process's settings (service URLs and secrets), read once from the environment."""
    return get_services().settings
