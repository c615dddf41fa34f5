"""Work-arounds in ``fleet.compat``, through real kombu against the real Redis."""

from __future__ import annotations

import uuid
from typing import Any

import kombu
import pytest
import redis
from prometheus_client import REGISTRY

import fleet.app  # noqa: F401  (installs the work-arounds)
from fleet.backends import kombu_fixes as compat


def test_a_message_popped_as_the_broker_went_away_is_put_back(monkeypatch, services) -> None:
    queue = kombu.Queue(f"compat-{uuid.uuid4().hex[:8]}")
    received: list[dict[str, Any]] = []
    original = compat._original_append

    def broker_gone_after_the_pop(qos: Any, message: Any, tag: str) -> None:
        monkeypatch.setattr(compat, "_original_append", original)
        raise redis.ConnectionError("Connection closed by server.")

    with kombu.Connection(services.redis_url) as conn:
        conn.Producer().publish({"n": 1}, routing_key=queue.name, declare=[queue])
        monkeypatch.setattr(compat, "_original_append", broker_gone_after_the_pop)
        with conn.Consumer(queue, callbacks=[lambda body, m: received.append(body)]), \
                pytest.raises(redis.ConnectionError):
            conn.drain_events(timeout=2)
    assert received == []  # kombu dropped it here: popped, not recorded as unacked
    put_back = REGISTRY.get_sample_value("fleet_messages_put_back_total") or 0.0
    # The consumer's next poll, on its new connection, puts it back first and gets it.
    with kombu.Connection(services.redis_url) as conn, conn.Consumer(
            queue, callbacks=[lambda body, m: (received.append(body), m.ack())]):
        conn.drain_events(timeout=2)
        assert received == [{"n": 1}]
        assert REGISTRY.get_sample_value("fleet_messages_put_back_total") == put_back + 1
        with pytest.raises(TimeoutError):  # once, not twice
            conn.drain_events(timeout=0.5)
