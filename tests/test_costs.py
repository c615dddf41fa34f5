"""Price arithmetic (exact Decimal) and idempotent cost rows."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from fleet import costs, db
from fleet.config import load_config
from fleet.costs import CostTracker, price
from fleet.models import TokenUsage
from tests.test_config import SHIPPED

MODELS = {m.name: m for m in load_config(SHIPPED, environ={}).routing.models}


def test_seed_example_price() -> None:
    # Appendix A: 5000 input + 3000 output on Sonnet.
    usage = TokenUsage(input_tokens=5000, output_tokens=3000)
    assert price(usage, MODELS["claude-sonnet-4.5"]) == Decimal("0.06000000")


def test_cache_tokens_use_their_own_prices() -> None:
    usage = TokenUsage(cached_tokens=10_000, cache_write_tokens=1000)
    assert price(usage, MODELS["claude-haiku-4"]) == Decimal("0.00180000")


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7),
       st.integers(0, 10**7))
def test_price_is_additive_and_non_negative(a: int, b: int, c: int, d: int) -> None:
    model = MODELS["claude-opus-4"]
    both = price(TokenUsage(input_tokens=a + c, output_tokens=b + d), model)
    parts = (price(TokenUsage(input_tokens=a, output_tokens=b), model)
             + price(TokenUsage(input_tokens=c, output_tokens=d), model))
    assert both == parts >= 0


def test_recording_the_same_attempt_twice_keeps_one_row(pg) -> None:
    tracker = CostTracker()
    entry = tracker.entry(task_id="cost-dup", attempt=1, model=MODELS["claude-haiku-4"],
                          task_type="general", agent_id=None,
                          usage=TokenUsage(input_tokens=10, output_tokens=20))
    assert tracker.record([entry]) == [entry]
    assert tracker.record([entry]) == []
    second = entry.model_copy(update={"attempt": 2})
    assert tracker.record([second, entry]) == [second]
    rows = pg.execute("SELECT attempt, cost_usd FROM cost_entries WHERE task_id = 'cost-dup' "
                      "ORDER BY attempt").fetchall()
    assert rows == [(1, entry.cost_usd), (2, entry.cost_usd)]


def test_rows_are_held_while_postgresql_and_redis_are_both_away(pg, redis_client,
                                                                monkeypatch) -> None:
    tracker = CostTracker()
    entry = tracker.entry(task_id=f"held-{uuid.uuid4().hex[:8]}", attempt=1,
                          model=MODELS["claude-haiku-4"], task_type="general", agent_id=None,
                          usage=TokenUsage(input_tokens=10, output_tokens=20))
    monkeypatch.setattr(db, "probably_up", lambda: False)  # PostgreSQL away
    away = redis.Redis(port=1, socket_connect_timeout=0.2)  # and Redis: nothing listens
    monkeypatch.setattr(costs, "get_redis", lambda: away)
    with pytest.raises(redis.ConnectionError):
        tracker.record([entry])
    monkeypatch.setattr(costs, "get_redis", lambda: redis_client)  # Redis is back first
    assert tracker.flush_held() == 1
    assert tracker.flush_held() == 0
    monkeypatch.setattr(db, "probably_up", lambda: True)  # then PostgreSQL
    tracker.drain()
    rows = pg.execute("SELECT task_id, cost_usd FROM cost_entries WHERE task_id = %s",
                      (entry.task_id,)).fetchall()
    assert rows == [(entry.task_id, entry.cost_usd)]
