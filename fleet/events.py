"""Fleet-wide events on the Redis channel ``fleet:events`` (cost.tracked, budget.alert …)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from fleet.redis_client import get_redis

log = logging.getLogger("fleet.events")

EVENTS_CHANNEL = "fleet:events"


def publish_event(type_: str, payload: dict[str, Any],
                  client: redis.Redis | None = None) -> None:
    """Best effort: an event that cannot be published is logged, never fatal to the task."""
    message = json.dumps({"type": type_, "ts": time.time(), **payload}, default=str)
    try:
        (client or get_redis()).publish(EVENTS_CHANNEL, message)
    except redis.RedisError as exc:
        log.warning("could not publish %s event: %s", type_, exc)
