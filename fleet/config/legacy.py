"""The seed's §9.3 migration of a v1.0.4 config (``fleet config migrate``)."""

from __future__ import annotations

from typing import Any


def migrate_v104(old: dict[str, Any]) -> dict[str, Any]:
    """The seed's §9.3 migration: a v1.0.4 config gains disabled flags, routing and streaming."""
    new = dict(old)
    new["features"] = {"multiModelRouter": False, "streaming": False}
    ai_model = (old.get("ai") or {}).get("model") if isinstance(old.get("ai"), dict) else None
    if ai_model:
        new["routing"] = {
            "enabled": False,
            "defaultModel": ai_model,
            "models": [{
                "name": ai_model, "provider": "anthropic", "model": ai_model,
                "capabilities": {"maxTokens": 200000, "supportsStreaming": True,
                                 "costPer1mTokens": {"input": 3.00, "output": 15.00}},
                "complexityRange": {"min": 0, "max": 1},
                "enabled": True,
            }],
            "complexity": {"tokenWeighting": 0.4, "structureWeighting": 0.3,
                           "contextWeighting": 0.3},
            "costTracking": {"enabled": False},
        }
    new["streaming"] = {
        "enabled": False, "bufferSize": 1024, "backpressureThreshold": 0.8, "timeoutMs": 30000,
        "retryConfig": {"maxRetries": 3, "backoffMs": 1000, "backoffMultiplier": 2},
    }
    return new
