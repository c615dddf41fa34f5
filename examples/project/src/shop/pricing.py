"""Money arithmetic: rounding, discounts and tax."""

from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def apply_discount(price: Decimal, rate: Decimal) -> Decimal:
    if not Decimal(0) <= rate <= Decimal(1):
        raise ValueError(f"discount rate {rate} is not between 0 and 1")
    return round_money(price * (1 - rate))


def add_tax(net: Decimal, rate: Decimal, exempt: bool = False) -> Decimal:
    if exempt:
        return round_money(net)
    return round_money(net * (1 + rate))
