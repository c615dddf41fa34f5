"""What every surface (CLI, HTTP, MCP) shows of the fleet, as plain JSON read from its stores:
a task's status, the cost report, the budget, the flags, the models (blocking calls: async
surfaces run them off their event loop)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

from fleet.backends import keys
from fleet.costs.pricing import list_prices
from fleet.costs.reports import Dimension, ReportPeriod, cost_report
from fleet.routing.flags import FLAGS
from fleet.services import Services
from fleet.streaming.subscribe import read_log


def task_status(services: Services, task_id: str) -> dict[str, Any]:
    """Where the task stands: its stream's last event, its selection, what it has cost."""
    events = read_log(services.redis, task_id)
    last = events[-1] if events else None
    with services.db.connection() as conn:
        selection = conn.execute("SELECT selection FROM routing_selections WHERE task_id = %s",
                                 (task_id,)).fetchone()
        cost = conn.execute("SELECT coalesce(sum(cost_usd), 0), count(*) FROM cost_entries "
                            "WHERE task_id = %s", (task_id,)).fetchone()
    spent, calls = cost if cost else (Decimal(0), 0)
    state = ("complete" if last["type"] == "complete" else "failed" if last["type"] == "error"
             else "running") if last else "queued" if selection else "unknown"
    status: dict[str, Any] = {"task_id": task_id, "state": state, "events": len(events),
                              "cost_usd": str(spent), "calls": calls,
                              "selection": selection[0] if selection else None}
    if last is not None and last["type"] in ("complete", "error"):
        status["final"] = last["data"]
    return status


def plain(value: Any) -> Any:
    """``value`` as JSON holds it: money (Decimal) and dates as strings."""
    return json.loads(json.dumps(value, default=str))


def costs(services: Services, period: str, by: str) -> dict[str, Any]:
    return cast(dict[str, Any], plain(cost_report(
        services.db, services.config, cast(ReportPeriod, period), cast(Dimension, by))))


def budget(services: Services) -> dict[str, Any]:
    """The seed's budgetStatus, with the reservations in flight and what happens at the limit."""
    ledger = services.ledger
    status = ledger.status()
    status["reservationsInFlight"] = int(
        services.redis.hlen(keys.BUDGET_RESERVATIONS))  # type: ignore[arg-type]
    status["onLimit"] = ledger.settings.on_limit
    return cast(dict[str, Any], plain(status))


def flags(services: Services, agent_type: str | None = None,
          environment: str | None = None) -> dict[str, Any]:
    manager = services.flags
    return {"flags": {flag: manager.is_enabled(flag, agent_type, environment) for flag in FLAGS},
            "runtime": manager.runtime_values()}


def models(services: Services) -> dict[str, Any]:
    return {"models": [
        {"name": m.name, "provider": m.provider, "enabled": m.enabled,
         "has_workers": services.consumers.serves(m), "circuit": services.breaker.state(m),
         "complexity_range": [m.complexity_range.min, m.complexity_range.max],
         "usd_per_1k_tokens": {k: str(v) for k, v in list_prices(m).items()}}
        for m in services.registry.all()],
        "default_model": services.config.routing.default_model}
