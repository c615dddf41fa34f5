"""qe-fleet: route quality-engineering tasks to the cheapest capable model on Celery, stream
their output through Redis and price every token into PostgreSQL.

The public names below load on first use (PEP 562): ``import fleet`` or ``import fleet.errors``
loads no client library (redis, psycopg, celery).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet.client import AsyncClient, AsyncTaskHandle, Client, Outcome, TaskHandle
    from fleet.config import FleetConfig, ModelConfig, Settings, load_config
    from fleet.contracts import (
        ComplexityScore,
        CostEntry,
        ModelSelection,
        QETask,
        StreamEvent,
        TaskType,
        TokenUsage,
    )
    from fleet.costs.budget import BudgetLedger
    from fleet.costs.pricing import price
    from fleet.costs.tracker import CostTracker
    from fleet.dispatch.route import submit
    from fleet.errors import (
        BudgetExceeded,
        ConfigError,
        FleetError,
        InvalidTask,
        ModelSelectionFailed,
        PayloadTooLarge,
        UnknownModel,
    )
    from fleet.routing.breaker import CircuitBreaker
    from fleet.routing.complexity import ComplexityAnalyzer
    from fleet.routing.flags import FeatureFlagManager
    from fleet.routing.registry import ModelRegistry
    from fleet.routing.router import ModelRouter
    from fleet.services import Services, get_config, get_services
    from fleet.streaming.chunker import Chunker
    from fleet.streaming.relay import StreamPublisher
    from fleet.streaming.subscribe import asubscribe, subscribe

# public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("AsyncClient", "AsyncTaskHandle", "Client", "Outcome", "TaskHandle"),
                    "fleet.client"),
    **dict.fromkeys(("FleetConfig", "ModelConfig", "Settings", "load_config"), "fleet.config"),
    **dict.fromkeys(("ComplexityScore", "CostEntry", "ModelSelection", "QETask", "StreamEvent",
                     "TaskType", "TokenUsage"), "fleet.contracts"),
    "BudgetLedger": "fleet.costs.budget",
    "price": "fleet.costs.pricing",
    "CostTracker": "fleet.costs.tracker",
    "submit": "fleet.dispatch.route",
    **dict.fromkeys(("BudgetExceeded", "ConfigError", "FleetError", "InvalidTask",
                     "ModelSelectionFailed", "PayloadTooLarge", "UnknownModel"), "fleet.errors"),
    "CircuitBreaker": "fleet.routing.breaker",
    "ComplexityAnalyzer": "fleet.routing.complexity",
    "FeatureFlagManager": "fleet.routing.flags",
    "ModelRegistry": "fleet.routing.registry",
    "ModelRouter": "fleet.routing.router",
    **dict.fromkeys(("Services", "get_config", "get_services"), "fleet.services"),
    "Chunker": "fleet.streaming.chunker",
    "StreamPublisher": "fleet.streaming.relay",
    **dict.fromkeys(("asubscribe", "subscribe"), "fleet.streaming.subscribe"),
}
__all__ = ["AsyncClient", "AsyncTaskHandle", "BudgetExceeded", "BudgetLedger", "Chunker",
    "CircuitBreaker", "Client", "ComplexityAnalyzer", "ComplexityScore", "ConfigError",
    "CostEntry", "CostTracker", "FeatureFlagManager", "FleetConfig", "FleetError", "InvalidTask",
    "ModelConfig", "ModelRegistry", "ModelRouter", "ModelSelection", "ModelSelectionFailed",
    "Outcome", "PayloadTooLarge", "QETask", "Services", "Settings", "StreamEvent",
    "StreamPublisher", "TaskHandle", "TaskType", "TokenUsage", "UnknownModel", "asubscribe",
    "get_config", "get_services", "load_config", "price", "submit", "subscribe"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fleet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value
