"""Fleet configuration: the schema, the process settings, the loader and the v1.0.4 migration.

Precedence, lowest first: built-in defaults (v1.0.4 behaviour: one model, no streaming), the YAML
file, then the seed's environment variables. Connection URLs and API keys live in
:class:`Settings` as ``SecretStr``, so they never reach logs, task arguments or
``fleet config check``. The process's own copy is :func:`fleet.services.get_config`.
"""

from fleet.config.legacy import migrate_v104
from fleet.config.loader import ENV_OVERRIDES, load_config, masked_dump, read_yaml
from fleet.config.schema import (
    DEFAULT_MODEL,
    AlertThresholds,
    BudgetLimits,
    Capabilities,
    ComplexityRange,
    ComplexityWeights,
    CostTracking,
    Credentials,
    FleetConfig,
    ModelConfig,
    StreamingSection,
    TokenPrices,
)
from fleet.config.settings import Settings

__all__ = [
    "DEFAULT_MODEL", "ENV_OVERRIDES", "AlertThresholds", "BudgetLimits", "Capabilities",
    "ComplexityRange", "ComplexityWeights", "CostTracking", "Credentials", "FleetConfig",
    "ModelConfig", "Settings", "StreamingSection", "TokenPrices", "load_config", "masked_dump",
    "migrate_v104", "read_yaml",
]
