"""The one price function: what token usage costs on a model, exactly (Decimal, 1e-8 USD).

The routing estimate, the budget reservation, the recorded cost row and the report's savings
all come from :func:`price`, so they cannot disagree.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from fleet.config import ModelConfig
from fleet.contracts import TokenUsage

_THOUSAND = Decimal(1000)
QUANTUM = Decimal("0.00000001")  # cost_usd is numeric(18, 8)


def price(usage: TokenUsage, model: ModelConfig) -> Decimal:
    """Cost in USD: the seed's formula, with cache reads and writes at their own prices.

    Cached input tokens are billed at the cache-read price when one is configured, otherwise
    as ordinary input; cache writes likewise fall back to the input price.
    """
    p = model.capabilities.cost_per_1k_tokens
    cache_read = p.cache_read if p.cache_read is not None else p.input
    cache_write = p.cache_write if p.cache_write is not None else p.input
    total = (Decimal(usage.input_tokens) * p.input + Decimal(usage.output_tokens) * p.output
             + Decimal(usage.cached_tokens) * cache_read
             + Decimal(usage.cache_write_tokens) * cache_write) / _THOUSAND
    return total.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def estimate(model: ModelConfig, input_tokens: int, output_tokens: int) -> Decimal:
    """The price of a call not made yet: its input and at most ``output_tokens`` out."""
    return price(TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens), model)


def list_prices(model: ModelConfig) -> dict[str, Decimal]:
    """The model's prices per 1k input and output tokens, as listings show them."""
    p = model.capabilities.cost_per_1k_tokens
    return {"input": p.input, "output": p.output}
