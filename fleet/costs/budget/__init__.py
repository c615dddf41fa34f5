"""Budgets: race-free daily / weekly / monthly limits (the ledger and its Lua scripts)."""

from fleet.costs.budget.ledger import (
    PERIODS,
    Alert,
    BudgetLedger,
    Ledger,
    Period,
    RemainingBudget,
    SendLater,
    Settled,
    ledger_key,
    period_end,
    period_start,
    to_units,
    to_usd,
)

__all__ = ["PERIODS", "Alert", "BudgetLedger", "Ledger", "Period", "RemainingBudget", "SendLater",
           "Settled", "ledger_key", "period_end", "period_start", "to_units", "to_usd"]
