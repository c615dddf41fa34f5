"""The one price function: exact Decimal arithmetic, cache prices, and every path using it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from fleet.config import load_config
from fleet.contracts import TokenUsage
from fleet.costs.pricing import price
from tests.config.test_config import SHIPPED

MODELS = {m.name: m for m in load_config(SHIPPED, environ={}).routing.models}


def test_seed_example_price() -> None:
    # Appendix A: 5000 input + 3000 output on Sonnet.
    usage = TokenUsage(input_tokens=5000, output_tokens=3000)
    assert price(usage, MODELS["claude-sonnet-4.5"]) == Decimal("0.06000000")


def test_cache_tokens_use_their_own_prices() -> None:
    usage = TokenUsage(cached_tokens=10_000, cache_write_tokens=1000)
    assert price(usage, MODELS["claude-haiku-4"]) == Decimal("0.00225000")


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7),
       st.integers(0, 10**7))
def test_price_is_additive_and_non_negative(a: int, b: int, c: int, d: int) -> None:
    model = MODELS["claude-opus-4"]
    both = price(TokenUsage(input_tokens=a + c, output_tokens=b + d), model)
    parts = (price(TokenUsage(input_tokens=a, output_tokens=b), model)
             + price(TokenUsage(input_tokens=c, output_tokens=d), model))
    assert both == parts >= 0


def test_prices_are_quantised_to_the_cost_column() -> None:
    model = MODELS["claude-haiku-4"]
    assert price(TokenUsage(input_tokens=1), model) == Decimal("0.00000100")
    assert price(TokenUsage(input_tokens=1), model).as_tuple().exponent == -8
