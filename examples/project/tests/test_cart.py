from decimal import Decimal

from shop.cart import Cart


def test_adding_the_same_item_twice_adds_to_its_line():
    cart = Cart()
    cart.add("apple", Decimal("0.50"))
    cart.add("apple", Decimal("0.50"), quantity=2)
    assert len(cart.lines) == 1 and cart.lines[0].quantity == 3


def test_total_adds_tax_to_the_subtotal():
    cart = Cart()
    cart.add("book", Decimal("10.00"))
    assert cart.total() == Decimal("12.00")
