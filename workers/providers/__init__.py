"""Provider adapters, chosen per model (``FLEET_SIMULATE=true`` runs every model simulated)."""

from __future__ import annotations

from fleet.config import ModelConfig, get_settings
from fleet.errors import MissingCredentials
from workers.providers.base import CompletionRequest, Provider, StreamItem, TextDelta
from workers.providers.simulated import SimulatedProvider

__all__ = ["CompletionRequest", "Provider", "StreamItem", "TextDelta", "provider_for"]


def provider_for(model: ModelConfig) -> Provider:
    if get_settings().fleet_simulate or model.provider == "simulated":
        return SimulatedProvider()
    raise MissingCredentials(
        f"model {model.name!r} uses provider {model.provider!r}; real providers are not wired "
        "in this build: set FLEET_SIMULATE=true")
