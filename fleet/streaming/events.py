"""Fleet-wide events on the Redis channel ``fleet:events`` (cost.tracked, budget.alert …)."""

from __future__ import annotations

import json
import time
from typing import Any

from fleet.backends.keys import EVENTS_CHANNEL
from fleet.streaming.relay import StreamRelay


def publish_event(relay: StreamRelay, type_: str, payload: dict[str, Any]) -> None:
    """Published by ``relay`` (the process's stream relay), after the events its tasks
    emitted before it and without a round trip of the caller's own. While Redis is away it
    waits with them; a write retried after a lost connection may publish it twice (a
    cost.tracked event's entryId tells the copies)."""
    message = json.dumps({"type": type_, "ts": time.time(), **payload}, default=str)
    relay.send_later("PUBLISH", EVENTS_CHANNEL, message)
