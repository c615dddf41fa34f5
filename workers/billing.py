"""The money steps of an attempt: record its cost rows, settle the budget, announce both.

Rows are committed before the budget hears of them; the settle rides with the stream relay
(it runs before the attempt's final event is written), and ``cost.tracked`` events and budget
alerts go out once it ran. Every later attempt (and a duplicate delivery) also settles what
earlier attempts recorded in PostgreSQL but could not settle; the ledger counts each attempt
once.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from celery import Task

from fleet.contracts import CostEntry, QETask
from fleet.costs.budget import Settled
from fleet.costs.tracker import cost_entry
from fleet.errors import BudgetAlertTriggered
from fleet.metrics import BUDGET_ALERTS, COST_USD, TOKENS
from fleet.services import Services
from fleet.streaming.events import publish_event
from workers.monitor import send_task_event
from workers.runner import Call

log = logging.getLogger("fleet.execute")


def owed_by(services: Services, task_id: str, attempt: int,
            spend: Decimal | None = None) -> dict[int, Decimal]:
    """This attempt's ``spend`` (None: it records none) with the spend of earlier attempts
    that a killed worker or a lost Redis may have left unsettled, by attempt."""
    owed = services.costs.spend_by_attempt(task_id) if attempt > 1 else {}
    if spend is not None:
        owed[attempt] = spend
    return owed


@dataclass(frozen=True)
class RecordedCosts:
    entries: list[CostEntry]
    settled: Future[Settled]  # the budget settle, sent with the stream's next events

    @property
    def costs(self) -> list[Decimal]:
        return [e.cost_usd for e in self.entries]


def record_costs(services: Services, qe: QETask, attempt: int,
                 calls: list[Call]) -> RecordedCosts:
    """One cost row per provider call (committed before the budget hears of it), and the
    budget settle (reservation released, actual spend and what earlier attempts owe added)
    sent with the stream relay: it runs before the attempt's final event is written."""
    entries = [cost_entry(task_id=qe.id, attempt=attempt, segment=i, model=c.model,
                          task_type=qe.type.value, agent_id=qe.agent_id, usage=c.usage)
               for i, c in enumerate(calls)]
    services.costs.record(entries)
    for entry in entries:
        COST_USD.labels(entry.model, entry.task_type).inc(float(entry.cost_usd))
        for kind, tokens in (("input", entry.usage.input_tokens),
                             ("output", entry.usage.output_tokens),
                             ("cache_read", entry.usage.cached_tokens),
                             ("cache_write", entry.usage.cache_write_tokens)):
            TOKENS.labels(entry.model, kind).inc(tokens)
    spend = sum((e.cost_usd for e in entries), Decimal(0))
    settled = services.ledger.settle_later(qe.id, owed_by(services, qe.id, attempt, spend),
                                           services.relay.send_later)
    return RecordedCosts(entries, settled)


def announce_costs(services: Services, task: Task, recorded: RecordedCosts) -> None:
    """Once the attempt's final event is written (and its settle with it): ``cost.tracked``
    events with the budget status, and budget alerts raised once (COST_002)."""
    try:
        alerts, status = recorded.settled.result(
            timeout=services.config.streaming.timeout_ms / 1000)
    except Exception as exc:  # refused or not yet run: the ledger's rebuild catches up
        log.warning("budget settle of %s not confirmed: %r", task.request.id, exc)
        return
    for entry in recorded.entries:
        tracked = cost_tracked_event(entry, status)
        publish_event(services.relay, "cost.tracked", tracked)
        # A Celery event's own ``timestamp`` is its send time in seconds.
        celery_fields = {k: v for k, v in tracked.items() if k != "timestamp"}
        send_task_event(task, "cost.tracked", recordedAt=tracked["timestamp"], **celery_fields)
    for alert in alerts:
        BUDGET_ALERTS.labels(alert.period, str(alert.threshold)).inc()
        log.warning("%s BudgetAlertTriggered: %s budget at %.0f%% (%s of %s USD)",
                    BudgetAlertTriggered.code, alert.period, alert.threshold, alert.used,
                    alert.limit)
        publish_event(services.relay, "budget.alert", {
            "code": BudgetAlertTriggered.code, "period": alert.period,
            "threshold": alert.threshold, "used": float(alert.used),
            "limit": float(alert.limit)})


def cost_tracked_event(entry: CostEntry, status: dict[str, Any]) -> dict[str, Any]:
    """The seed's Appendix A "Cost Tracking Response"."""
    return {"entryId": f"cost-{entry.task_id}-{entry.attempt}-{entry.segment}",
            "taskId": entry.task_id, "modelName": entry.model,
            "timestamp": entry.created_at.isoformat(), "cost": float(entry.cost_usd),
            "tokens": {"input": entry.usage.input_tokens, "output": entry.usage.output_tokens,
                       "cached": entry.usage.cached_tokens},
            "estimated": entry.usage.estimated, "taskType": entry.task_type,
            "agentId": entry.agent_id, "budgetStatus": status}
