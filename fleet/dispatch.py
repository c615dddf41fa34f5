"""Dispatch: validate a QE task, route it, record the selection, enqueue it on its model queue.

``fleet.dispatch`` is the Celery task other services call by name; :func:`submit` is the same
path in-process for Python callers (one broker hop instead of two).
"""

from __future__ import annotations

import json
import logging
import time
from decimal import Decimal
from functools import lru_cache
from typing import Any

from celery import Task
from pydantic import ValidationError

from fleet import outbox
from fleet.app import app, retry_in_place
from fleet.breaker import get_breaker
from fleet.budget import BudgetLedger, get_ledger
from fleet.config import ModelConfig, get_config
from fleet.errors import (
    BudgetExceeded,
    FleetError,
    InvalidTask,
    NoAffordableModel,
    PayloadTooLarge,
)
from fleet.flags import FeatureFlagManager
from fleet.metrics import BUDGET_REJECTIONS, SELECTION_SECONDS, SELECTIONS
from fleet.models import ModelSelection, QETask
from fleet.outbox import Message
from fleet.prompts import build_prompt
from fleet.redis_client import REDIS_DOWN, get_redis, wait_for_redis
from fleet.router import ModelRouter, estimated_cost
from fleet.selections import store_selection
from fleet.tokens import estimate_tokens

log = logging.getLogger("fleet.dispatch")

EXECUTE_TASK = "fleet.execute"
INPUT_ESTIMATE_MARGIN = 1.1


@lru_cache(maxsize=1)
def get_router() -> ModelRouter:
    config = get_config()
    ledger = get_ledger()
    affordable = _always_affordable
    if ledger.active and ledger.settings.on_limit == "downgrade":
        affordable = RemainingBudget(ledger).affords
    return ModelRouter(config, flags=get_flags(), is_available=get_breaker().is_available,
                       is_affordable=affordable)


def _always_affordable(model: ModelConfig, cost: Decimal) -> bool:
    return True


class RemainingBudget:
    """The router's cheap view of the budget (refreshed every 0.5 s); the reservation in
    :func:`reserve_budget` is the authoritative, atomic check."""

    def __init__(self, ledger: BudgetLedger) -> None:
        self.ledger = ledger
        self._value: Decimal | None = None
        self._at = float("-inf")

    def affords(self, model: ModelConfig, cost: Decimal) -> bool:
        if time.monotonic() - self._at > 0.5:
            self._value, self._at = self.ledger.remaining(), time.monotonic()
        return self._value is None or cost <= self._value


@lru_cache(maxsize=1)
def get_flags() -> FeatureFlagManager:
    return FeatureFlagManager(get_config())


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"field {where}: {err['msg']}")
    more = f" (and {exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return "; ".join(parts) + more


def parse_task(payload: Any, max_bytes: int | None = None) -> QETask:
    """A QETask from a dict or a JSON string, or InvalidTask / PayloadTooLarge naming why."""
    limit = max_bytes or get_config().fleet.max_payload_bytes
    if isinstance(payload, str | bytes):
        if len(payload) > limit:
            raise PayloadTooLarge(f"payload is {len(payload)} bytes, limit is {limit}")
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidTask(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidTask(f"task must be a JSON object, got {type(payload).__name__}")
    # UTF-8 bytes of the compact JSON: escaping non-ASCII (json's default) would count a
    # Japanese character as six bytes instead of three.
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise PayloadTooLarge(f"payload is {size} bytes, limit is {limit}")
    try:
        return QETask.model_validate(payload)
    except ValidationError as exc:
        raise InvalidTask(_describe(exc)) from None


def reserve_budget(task: QETask, selection: ModelSelection) -> ModelSelection:
    """Reserve the task's estimated cost, or downgrade / refuse (ROUTER_002 / ROUTER_003)."""
    ledger = get_ledger()
    if not ledger.active:
        return selection
    router = get_router()
    system, prompt = build_prompt(task)
    # What the worker will send, plus a margin for provider tokenizers that count higher.
    tokens = int(estimate_tokens(system + prompt) * INPUT_ESTIMATE_MARGIN) + 1
    chosen = selection.model_config_
    candidates = [chosen]
    downgrade = ledger.settings.on_limit == "downgrade"
    if downgrade:
        cheaper = [router.registry.get(n) for n in selection.fallback_models]
        def cost(m: ModelConfig) -> Decimal:
            return estimated_cost(m, tokens, task.max_output_tokens)

        candidates += sorted((m for m in cheaper if cost(m) < cost(chosen)), key=cost)
    refusal = None
    for model in candidates:
        ok, period, used = ledger.reserve(task.id, estimated_cost(model, tokens,
                                                                  task.max_output_tokens))
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
    selection = reserve_budget(task, get_router().select_model(task))
    SELECTIONS.labels(selection.model_name, str(selection.error_code is not None)).inc()
    SELECTION_SECONDS.observe(selection.latency_us / 1e6)
    message = execute_message(task, selection)
    try:
        store_selection(task, selection)
        outbox.remember(get_redis(), message)  # until a worker takes it
        send_execute(message)
    except Exception:
        # Not enqueued: neither its reservation nor its copy may linger (the caller was told).
        get_ledger().release(task.id)
        outbox.forget(get_redis(), task.id)
        raise
    log.info("task %s (%s) -> %s: %s", task.id, task.type.value, selection.model_name,
             selection.reason)
    return selection


def execute_message(task: QETask, selection: ModelSelection) -> Message:
    """The execute message of a routed task (sent by the dispatcher, and again by a retry)."""
    return Message(
        task.id, selection.queue, task.priority,
        {"task": task.model_dump(mode="json"),
         "selection": selection.model_dump(mode="json", by_alias=True)},
        # What Flower and task events show: a short summary, not the task's code and context
        # (and Celery need not build a repr of the whole payload per message).
        repr({"task": task.id, "type": task.type.value, "model": selection.model_name}))


def send_execute(message: Message) -> None:
    # The QE task id doubles as the execute task's Celery id: AsyncResult(task.id) is its
    # result, and a redelivered dispatch (or outbox sweep) re-sends the same id, which the
    # worker de-duplicates.
    app.send_task(EXECUTE_TASK, task_id=message.task_id, queue=message.queue,
                  priority=message.priority, kwargs=message.kwargs, argsrepr="()",
                  kwargsrepr=message.kwargsrepr)


@app.task(name="fleet.dispatch", bind=True, throws=(FleetError,), acks_late=True)
def dispatch(self: Task, task: Any = None, **unexpected: Any) -> dict[str, Any]:
    """Route one QE task; returns the ModelSelection as JSON. Bad input raises a FleetError
    (logged, acknowledged, nothing enqueued); losing Redis retries the task once it is back
    (routing it again is idempotent: the reservation, the selection row and the execute
    message are keyed by the task id)."""
    try:
        if unexpected:
            raise InvalidTask(
                f"unexpected kwargs {sorted(unexpected)}; send kwargs={{'task': ...}}")
        if task is None:
            raise InvalidTask("missing kwarg 'task'")
        qe_task = parse_task(task)
        return route(qe_task).model_dump(mode="json", by_alias=True)
    except FleetError as exc:
        log.warning("rejected dispatch %s: %s", self.request.id, exc)
        raise
    except REDIS_DOWN as exc:  # away for longer than the client's retries: not the task's fault
        log.warning("dispatch %s lost Redis (%s); it is retried once Redis is back",
                    self.request.id, exc)
        if wait_for_redis(time.monotonic() + get_config().fleet.task_timeout):
            raise retry_in_place(self, countdown=0) from exc
        raise


def submit(task: QETask | dict[str, Any]) -> ModelSelection:
    """Route and enqueue a task from this process (client-side routing, one broker hop)."""
    qe_task = task if isinstance(task, QETask) else parse_task(task)
    return route(qe_task)
