"""Provider adapters, chosen per model, with credentials resolved from the environment.

A model's key comes from ``credentials.apiKeyEnv`` when set, else ``<PROVIDER>_API_KEY``
(ANTHROPIC_API_KEY, OPENAI_API_KEY, GOOGLE_API_KEY). OpenAI-compatible servers need no key.
``FLEET_SIMULATE=true`` runs every model on the simulated provider.
"""

from __future__ import annotations

import os
import threading

from pydantic import SecretStr

from fleet.config import ModelConfig
from fleet.errors import MissingCredentials
from fleet.services import get_config, get_settings
from workers.providers.base import (
    AsyncProvider,
    CompletionRequest,
    Provider,
    ProviderCallError,
    StreamItem,
    TextDelta,
)
from workers.providers.mock import MockProvider
from workers.providers.simulated import SimulatedProvider

__all__ = [
    "AsyncProvider",
    "CompletionRequest",
    "MockProvider",
    "Provider",
    "ProviderCallError",
    "Providers",
    "StreamItem",
    "TextDelta",
    "check_credentials",
]

_KEYLESS = frozenset({"openai-compatible", "simulated"})


def simulated(model: ModelConfig) -> bool:
    return get_settings().fleet_simulate or model.provider == "simulated"


def api_key(model: ModelConfig) -> SecretStr | None:
    value = os.environ.get(model.key_env)
    return SecretStr(value) if value else None


def check_credentials(model: ModelConfig) -> None:
    """Raise MissingCredentials (naming the variable, never a value) if the model has no key."""
    if simulated(model) or model.provider in _KEYLESS or api_key(model) is not None:
        return
    raise MissingCredentials(f"model {model.name!r} ({model.provider}) has no API key: set "
                             f"{model.key_env} or FLEET_SIMULATE=true")


def _build(model: ModelConfig) -> Provider:
    if simulated(model):
        return SimulatedProvider()
    check_credentials(model)
    key = api_key(model)
    secret = key.get_secret_value() if key else "not-needed"
    timeout_s = get_config().streaming.timeout_ms / 1000
    if model.provider == "anthropic":
        from workers.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(model, secret, model.credentials.endpoint, timeout_s)
    from workers.providers.openai_provider import OpenAIChatProvider

    return OpenAIChatProvider(model, secret, model.credentials.endpoint, timeout_s)


class Providers:
    """The runner's provider factory in a worker: one adapter per model (and its settings),
    built on first use and kept, so SDK clients keep their connection pools."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], Provider] = {}
        self._lock = threading.Lock()

    def __call__(self, model: ModelConfig) -> Provider:
        key = (model.name, model.model_dump_json())
        with self._lock:
            provider = self._built.get(key)
            if provider is None:
                provider = self._built[key] = _build(model)
            return provider
