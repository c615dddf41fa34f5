"""Reserving a routed task's cost: refused, downgraded to a cheaper model, or no model fits
(in process, on the in-memory ledger: no Redis)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fleet.config import AlertThresholds, BudgetLimits, CostTracking, load_config
from fleet.contracts import QETask
from fleet.costs.budget.stub import StubLedger
from fleet.dispatch.route import reserve_budget
from fleet.errors import BudgetExceeded, NoAffordableModel
from fleet.routing.registry import ModelRegistry
from fleet.routing.router import ModelRouter
from tests.config.test_config import SHIPPED

CONFIG = load_config(SHIPPED, environ={"FEATURE_MULTI_MODEL_ROUTER": "true"})
REGISTRY = ModelRegistry.from_config(CONFIG)
TASK = QETask(id="budget-opus", type="security-review", description="Audit this.",
              preferred_model="claude-opus-4", max_output_tokens=1000)


def tight(daily: str, on_limit: str = "block") -> StubLedger:
    return StubLedger(CostTracking(
        enabled=True, on_limit=on_limit,  # type: ignore[arg-type]
        budget_limits=BudgetLimits(daily=Decimal(daily)),
        alert_thresholds=AlertThresholds()))


def test_block_refuses_and_downgrade_picks_a_cheaper_model() -> None:
    selection = ModelRouter(CONFIG, REGISTRY).select_model(TASK)
    assert selection.model_name == "claude-opus-4"
    # Room for a haiku call (~0.004 USD) but not an opus one (~0.075 USD).
    with pytest.raises(BudgetExceeded) as refused:
        reserve_budget(TASK, selection, tight("0.01"), REGISTRY)
    assert refused.value.code == "ROUTER_002" and "daily budget" in str(refused.value)

    ledger = tight("0.01", on_limit="downgrade")
    downgraded = reserve_budget(TASK, selection, ledger, REGISTRY)
    assert downgraded.model_name == "claude-haiku-4"
    assert "downgraded from claude-opus-4" in downgraded.reason
    assert "claude-haiku-4" not in downgraded.fallback_models
    assert "budget-opus" in ledger.reservations

    with pytest.raises(NoAffordableModel) as none:
        reserve_budget(TASK.model_copy(update={"id": "budget-none"}), selection,
                       tight("0.00001", on_limit="downgrade"), REGISTRY)
    assert none.value.code == "ROUTER_003"


def test_a_ledger_without_limits_reserves_nothing() -> None:
    selection = ModelRouter(CONFIG, REGISTRY).select_model(TASK)
    ledger = StubLedger(CostTracking(enabled=True))
    assert reserve_budget(TASK, selection, ledger, REGISTRY) is selection
    assert ledger.reservations == {}
