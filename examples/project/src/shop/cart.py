"""A shopping cart: lines of items, coupons, and the total a customer pays."""

from dataclasses import dataclass, field
from decimal import Decimal

from shop.pricing import add_tax, apply_discount

COUPONS = {"WELCOME10": Decimal("0.10"), "VIP25": Decimal("0.25")}


@dataclass
class Line:
    sku: str
    price: Decimal
    quantity: int = 1


@dataclass
class Cart:
    lines: list[Line] = field(default_factory=list)
    coupon: str | None = None

    def add(self, sku: str, price: Decimal, quantity: int = 1) -> None:
        if quantity < 1:
            raise ValueError("quantity must be at least 1")
        for line in self.lines:
            if line.sku == sku:
                line.quantity += quantity
                return
        self.lines.append(Line(sku, price, quantity))

    def remove(self, sku: str) -> None:
        self.lines = [line for line in self.lines if line.sku != sku]

    def use_coupon(self, code: str) -> None:
        if code not in COUPONS:
            raise KeyError(f"unknown coupon {code}")
        self.coupon = code

    def subtotal(self) -> Decimal:
        return sum((line.price * line.quantity for line in self.lines), Decimal(0))

    def total(self, tax_rate: Decimal = Decimal("0.20"), tax_exempt: bool = False) -> Decimal:
        amount = self.subtotal()
        if self.coupon is not None:
            amount = apply_discount(amount, COUPONS[self.coupon])
        return add_tax(amount, tax_rate, exempt=tax_exempt)
