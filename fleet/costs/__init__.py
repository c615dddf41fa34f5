"""Money: the one price function, the cost tracker and its spool, budgets, reports and the
daily roll-up."""
