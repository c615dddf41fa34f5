"""Route: select a model, reserve its cost, record the choice and enqueue execution on
``model.<name>``. :func:`submit` is this path in-process for Python callers (one broker hop
instead of two); the ``fleet.dispatch`` Celery task (:mod:`fleet.dispatch.task`) runs it for
callers that enqueue by task name.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from fleet.config import ModelConfig
from fleet.contracts import ModelSelection, QETask
from fleet.costs.budget import Ledger
from fleet.costs.pricing import estimate
from fleet.dispatch import outbox
from fleet.dispatch.intake import parse_task
from fleet.dispatch.selections import store_selection
from fleet.errors import BudgetExceeded, NoAffordableModel
from fleet.metrics import BUDGET_REJECTIONS, SELECTION_SECONDS, SELECTIONS
from fleet.qe.prompts import build_prompt
from fleet.qe.results import SPECS
from fleet.routing.registry import ModelRegistry
from fleet.routing.tokens import estimate_tokens
from fleet.services import get_services

log = logging.getLogger("fleet.dispatch")

INPUT_ESTIMATE_MARGIN = 1.1


def reserve_budget(task: QETask, selection: ModelSelection, ledger: Ledger,
                   registry: ModelRegistry) -> ModelSelection:
    """Reserve the task's estimated cost, or downgrade / refuse (ROUTER_002 / ROUTER_003)."""
    if not ledger.active:
        return selection
    prompt = build_prompt(task)
    # What the worker will send, plus a margin for provider tokenizers that count higher.
    tokens = int(estimate_tokens(prompt.system + prompt.user) * INPUT_ESTIMATE_MARGIN) + 1
    chosen = selection.model_config_
    candidates = [chosen]
    downgrade = ledger.settings.on_limit == "downgrade"

    def cost(m: ModelConfig) -> Decimal:
        return estimate(m, tokens, task.max_output_tokens)

    if downgrade:
        cheaper = [registry.get(n) for n in selection.fallback_models]
        candidates += sorted((m for m in cheaper if cost(m) < cost(chosen)), key=cost)
    refusal = None
    for model in candidates:
        ok, period, used = ledger.reserve(task.id, cost(model))
        if ok:
            if model is chosen:
                return selection
            BUDGET_REJECTIONS.labels("downgraded").inc()
            return selection.model_copy(update={
                "model_name": model.name, "model_config_": model,
                "reason": f"{selection.reason}; downgraded from {chosen.name}: {refusal}",
                "fallback_models": [n for n in selection.fallback_models if n != model.name]})
        refusal = f"{period} budget used {used} of {ledger.limit(period) if period else '?'}"
    BUDGET_REJECTIONS.labels("refused").inc()
    if downgrade:
        raise NoAffordableModel(f"no model fits the remaining budget ({refusal})")
    raise BudgetExceeded(f"{refusal}; task {task.id} refused")


def route(task: QETask) -> ModelSelection:
    """Select a model, reserve its cost, record the choice and enqueue execution on
    ``model.<name>``."""
    services = get_services()
    router = services.router
    selection = router.select_model(task)
    spec = SPECS.get(task.type)
    if spec is not None and spec.decided(task) is not None:  # no model will be called
        selection = selection.model_copy(update={
            "reason": f"decided by the task's rules, no model called ({selection.reason})"})
    else:
        selection = reserve_budget(task, selection, services.ledger, router.registry)
    SELECTIONS.labels(selection.model_name, str(selection.error_code is not None)).inc()
    SELECTION_SECONDS.observe(selection.latency_us / 1e6)
    message = outbox.execute_message(task, selection)
    try:
        store_selection(task, selection)
        outbox.remember(services.redis, message)  # until a worker takes it
        outbox.send_execute(message)
    except Exception:
        # Not enqueued: neither its reservation nor its copy may linger (the caller was told).
        services.ledger.release(task.id)
        outbox.forget(services.redis, task.id)
        raise
    log.info("task %s (%s) -> %s: %s", task.id, task.type.value, selection.model_name,
             selection.reason)
    return selection


def submit(task: QETask | dict[str, Any]) -> ModelSelection:
    """Route and enqueue a task from this process (client-side routing, one broker hop)."""
    qe_task = task if isinstance(task, QETask) else parse_task(
        task, get_services().config.fleet.max_payload_bytes)
    return route(qe_task)
