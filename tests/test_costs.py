"""Price arithmetic (exact Decimal) and idempotent cost rows."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

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
