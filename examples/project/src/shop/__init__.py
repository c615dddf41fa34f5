"""A small shop: carts, prices and coupons (the fleet's example project)."""
