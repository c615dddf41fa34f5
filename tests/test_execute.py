"""Pieces of ``fleet.execute`` that need no worker: the spend a retry carries."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fleet.errors import InvalidTask
from workers.execute import Owed


def test_a_retry_carries_a_non_negative_amount() -> None:
    assert Owed.parse("0.00012345").usd == Decimal("0.00012345")
    assert Owed.parse("0").usd == 0


@pytest.mark.parametrize("bad", ["-0.5", "NaN", "Infinity", "lots", ""])
def test_a_bad_carried_amount_is_refused_not_settled(bad: str) -> None:
    # A negative amount would take spend off the budget ledger.
    with pytest.raises(InvalidTask, match="non-negative"):
        Owed.parse(bad)
