"""qe-fleet: route quality-engineering tasks to the cheapest capable model on Celery, stream
their output through Redis and price every token into PostgreSQL.

Importing ``fleet`` is light: the Celery app and database pools load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.breaker import CircuitBreaker
from fleet.budget import BudgetLedger
from fleet.buffer import BufferManager
from fleet.complexity import ComplexityAnalyzer
from fleet.config import FleetConfig, ModelConfig, Settings, get_config, load_config
from fleet.costs import CostTracker, price
from fleet.errors import (
    BudgetExceeded,
    ConfigError,
    FleetError,
    InvalidTask,
    ModelSelectionFailed,
    PayloadTooLarge,
    UnknownModel,
)
from fleet.flags import FeatureFlagManager
from fleet.models import (
    ComplexityScore,
    CostEntry,
    ModelSelection,
    QETask,
    StreamEvent,
    TaskType,
    TokenUsage,
)
from fleet.registry import ModelRegistry
from fleet.relay import StreamPublisher
from fleet.router import ModelRouter
from fleet.stream import asubscribe, subscribe

if TYPE_CHECKING:
    from fleet.dispatch import submit

__all__ = [
    "BudgetExceeded",
    "BudgetLedger",
    "BufferManager",
    "CircuitBreaker",
    "ComplexityAnalyzer",
    "ComplexityScore",
    "ConfigError",
    "CostEntry",
    "CostTracker",
    "FeatureFlagManager",
    "FleetConfig",
    "FleetError",
    "InvalidTask",
    "ModelConfig",
    "ModelRegistry",
    "ModelRouter",
    "ModelSelection",
    "ModelSelectionFailed",
    "PayloadTooLarge",
    "QETask",
    "Settings",
    "StreamEvent",
    "StreamPublisher",
    "TaskType",
    "TokenUsage",
    "UnknownModel",
    "asubscribe",
    "get_config",
    "load_config",
    "price",
    "submit",
    "subscribe",
]


def __getattr__(name: str) -> Any:
    if name == "submit":  # imports the Celery app, so only on demand
        from fleet.dispatch import submit

        return submit
    raise AttributeError(f"module 'fleet' has no attribute {name!r}")
