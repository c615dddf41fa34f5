"""``fleet.execute``: run one routed QE task on its model and stream the output.

Runs on ``model.<name>`` queues. Each delivery is one *attempt* (numbered in Redis); it
publishes start → chunk… / progress… (→ fallback → chunk…) → complete, or error, with gap-free
seq, and records one cost row per provider call of the attempt. A redelivered task whose stream
already ended is acknowledged without running again (returning the result its stream holds).
An attempt that loses Redis for longer than the client's retries is not failed: it waits for
Redis, lets its written events land, and the task is retried, continuing the same stream.
Every later attempt (and a duplicate delivery) settles in the budget ledger whatever earlier
attempts recorded in PostgreSQL but could not settle; the ledger counts each attempt once.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import prometheus_client
from celery import Task
from celery.exceptions import Ignore, Retry
from celery.signals import worker_init, worker_ready

from fleet import outbox
from fleet.app import app, retry_in_place
from fleet.breaker import get_breaker
from fleet.budget import Settled, get_ledger
from fleet.buffer import BufferManager
from fleet.config import get_config
from fleet.costs import CostTracker
from fleet.dispatch import execute_message, get_flags, send_execute
from fleet.errors import (
    BudgetAlertTriggered,
    BufferOverflow,
    FleetError,
    ProviderError,
)
from fleet.events import publish_event
from fleet.lease import Attempt, LeaseKeeper
from fleet.metrics import BUDGET_ALERTS, COST_USD, STREAMS, TOKENS
from fleet.models import CostEntry, ModelSelection, QETask
from fleet.prompts import build_prompt
from fleet.redis_client import REDIS_DOWN, get_redis, wait_for_redis
from fleet.registry import ModelRegistry
from fleet.relay import StreamPublisher, get_relay
from fleet.stream import read_log
from workers.monitor import send_task_event
from workers.providers import check_credentials
from workers.runner import Call, RunFailed, Runner

log = logging.getLogger("fleet.execute")

# Redis away for longer than the client's retries; STREAM_001 in a worker means the relay could
# not write the stream's events, which is the same outage.
REDIS_LOST: tuple[type[Exception], ...] = (*REDIS_DOWN, BufferOverflow)
# Each retry after an outage may call the provider again: a Redis that keeps failing ends the
# task with its error instead of paying for it without end.
MAX_RETRIES = 10
_costs = CostTracker()


@lru_cache(maxsize=1)
def get_runner() -> Runner:
    config = get_config()
    return Runner(config, ModelRegistry.from_config(config), get_breaker())


def publisher_for(task_id: str, model: str, attempt: Attempt) -> StreamPublisher:
    """The task's publisher, continuing its stream's numbering after ``attempt.last_event``."""
    settings = get_config().streaming
    return StreamPublisher(
        task_id, model, buffer=BufferManager(settings.flush_chars, settings.flush_ms),
        buffer_size=settings.buffer_size, backpressure_threshold=settings.backpressure_threshold,
        timeout_s=settings.timeout_ms / 1000, last_event=attempt.last_event, log_read=True)


def owed_by(task_id: str, attempt: int, spend: Decimal | None = None) -> dict[int, Decimal]:
    """This attempt's ``spend`` (None: it records none) with the spend of earlier attempts
    that a killed worker or a lost Redis may have left unsettled, by attempt."""
    owed = _costs.spend_by_attempt(task_id) if attempt > 1 else {}
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


def record_costs(qe: QETask, attempt: int, calls: list[Call]) -> RecordedCosts:
    """One cost row per provider call (committed before the budget hears of it), and the
    budget settle (reservation released, actual spend and what earlier attempts owe added)
    sent with the stream relay: it runs before the attempt's final event is written."""
    entries = [_costs.entry(task_id=qe.id, attempt=attempt, segment=i, model=c.model,
                            task_type=qe.type.value, agent_id=qe.agent_id, usage=c.usage)
               for i, c in enumerate(calls)]
    _costs.record(entries)
    for entry in entries:
        COST_USD.labels(entry.model, entry.task_type).inc(float(entry.cost_usd))
        TOKENS.labels(entry.model, "input").inc(entry.usage.input_tokens)
        TOKENS.labels(entry.model, "output").inc(entry.usage.output_tokens)
    spend = sum((e.cost_usd for e in entries), Decimal(0))
    return RecordedCosts(entries, get_ledger().settle_later(qe.id, owed_by(qe.id, attempt, spend),
                                                            get_relay()))


def announce_costs(task: Task, recorded: RecordedCosts) -> None:
    """Once the attempt's final event is written (and its settle with it): ``cost.tracked``
    events with the budget status, and budget alerts raised once (COST_002)."""
    try:
        alerts, status = recorded.settled.result(timeout=get_config().streaming.timeout_ms / 1000)
    except Exception as exc:  # refused or not yet run: the ledger's rebuild catches up
        log.warning("budget settle of %s not confirmed: %r", task.request.id, exc)
        return
    for entry in recorded.entries:
        tracked = cost_tracked_event(entry, status)
        publish_event("cost.tracked", tracked)
        # A Celery event's own ``timestamp`` is its send time in seconds.
        celery_fields = {k: v for k, v in tracked.items() if k != "timestamp"}
        send_task_event(task, "cost.tracked", recordedAt=tracked["timestamp"], **celery_fields)
    for alert in alerts:
        BUDGET_ALERTS.labels(alert.period, str(alert.threshold)).inc()
        log.warning("%s BudgetAlertTriggered: %s budget at %.0f%% (%s of %s USD)",
                    BudgetAlertTriggered.code, alert.period, alert.threshold, alert.used,
                    alert.limit)
        publish_event("budget.alert", {"code": BudgetAlertTriggered.code,
                                       "period": alert.period, "threshold": alert.threshold,
                                       "used": float(alert.used), "limit": float(alert.limit)})


def cost_tracked_event(entry: CostEntry, status: dict[str, Any]) -> dict[str, Any]:
    """The seed's Appendix A "Cost Tracking Response"."""
    return {"entryId": f"cost-{entry.task_id}-{entry.attempt}-{entry.segment}",
            "taskId": entry.task_id, "modelName": entry.model,
            "timestamp": entry.created_at.isoformat(), "cost": float(entry.cost_usd),
            "tokens": {"input": entry.usage.input_tokens, "output": entry.usage.output_tokens,
                       "cached": entry.usage.cached_tokens},
            "estimated": entry.usage.estimated, "taskType": entry.task_type,
            "agentId": entry.agent_id, "budgetStatus": status}


@lru_cache(maxsize=1)
def get_lease_keeper() -> LeaseKeeper:
    return LeaseKeeper()


def delivered_text(task_id: str) -> str:
    """The text earlier attempts of this task already streamed to subscribers."""
    return "".join(e["data"].get("text", "") for e in read_log(get_redis(), task_id)
                   if e["type"] == "chunk")


@app.task(name="fleet.execute", bind=True, acks_late=True, throws=(FleetError,))
def execute(self: Task, task: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    qe = QETask.model_validate(task)
    chosen = ModelSelection.model_validate(selection)
    deadline = time.monotonic() + get_config().fleet.task_timeout
    try:
        keeper = get_lease_keeper()
        attempt = keeper.acquire(qe.id)
        if isinstance(attempt, int):  # another attempt is alive: look again once it may lapse
            log.info("task %s is running elsewhere; checking again in %d ms", qe.id, attempt)
            raise retry_kept(self, qe, chosen, countdown=attempt / 1000 + 0.5)
        try:
            return _execute(self, qe, chosen, attempt, deadline)
        finally:
            keeper.release(qe.id)
    except REDIS_LOST as exc:
        log.warning("task %s lost Redis (%s); it is retried once Redis is back", qe.id, exc)
        if (self.request.retries < MAX_RETRIES and wait_for_redis(deadline)
                and get_relay().drain(deadline - time.monotonic())):
            with contextlib.suppress(*REDIS_DOWN):  # away again: the next record flushes them
                _costs.flush_held()  # cost rows PostgreSQL could not take while Redis was away
            raise retry_kept(self, qe, chosen, countdown=0) from exc
        raise


def retry_kept(self: Task, qe: QETask, chosen: ModelSelection, countdown: float) -> Retry:
    """Retry in place, with a copy of the retry message in the outbox until a worker takes
    it: a retry message the broker loses is sent again like the dispatcher's."""
    outbox.remember(get_redis(), execute_message(qe, chosen), now=time.time() + countdown)
    return retry_in_place(self, countdown=countdown)


def _execute(self: Task, qe: QETask, chosen: ModelSelection, begun: Attempt,
             deadline: float) -> dict[str, Any]:
    publisher = publisher_for(qe.id, chosen.model_name, begun)
    attempt, last_event = begun.number, begun.last_event
    if publisher.finished:
        log.info("task %s already finished; duplicate delivery acknowledged", qe.id)
        # Settles what a cut-off attempt left, and drops the reservation a dispatch delivered
        # again after the end made anew: a finished task holds none.
        get_ledger().settle(qe.id, owed_by(qe.id, attempt))
        if last_event is not None and last_event["type"] == "complete":
            # The same result again: the finished attempt may not have stored it (Redis went
            # away between its last event and its result).
            data: dict[str, Any] = last_event["data"]
            return data if "text" in data else data | {"text": delivered_text(qe.id)}
        raise Ignore()  # keeps the failed attempt's stored error
    # A redelivered task (its worker died mid-stream) continues the text already streamed.
    delivered = delivered_text(qe.id) if publisher.next_seq else ""
    model = chosen.model_config_
    streaming = (get_flags().is_enabled("streaming", qe.agent_type) and qe.stream
                 and model.capabilities.supports_streaming)
    system, prompt = build_prompt(qe)
    publisher.emit("start", {"attempt": attempt, "provider": model.provider,
                             "streaming": streaming, "complexity": chosen.complexity.overall,
                             "estimated_tokens": qe.max_output_tokens,
                             "resumed_after_chars": len(delivered)})
    started = time.monotonic()
    try:
        outcome = get_runner().run(qe, chosen, system, prompt, publisher, streaming,
                                   deadline=deadline, delivered=delivered if streaming else "")
    except RunFailed as failed:
        if isinstance(failed.error, BufferOverflow):  # Redis is away: no error event, a retry
            with contextlib.suppress(*REDIS_DOWN):
                record_costs(qe, attempt, failed.calls)
            raise failed.error from None
        STREAMS.labels(model.name, failed.error.code).inc()
        recorded = record_costs(qe, attempt, failed.calls)
        publisher.emit("error", failed.error.to_dict() | {"attempt": attempt})
        announce_costs(self, recorded)
        raise failed.error from None
    except REDIS_DOWN:
        raise
    except Exception as exc:  # a bug must end the stream with an error, not leave it hanging
        error = ProviderError(f"{type(exc).__name__}: {exc}")
        publisher.emit("error", error.to_dict() | {"attempt": attempt})
        raise error from exc
    STREAMS.labels(outcome.model.name, "complete").inc()
    recorded = record_costs(qe, attempt, outcome.calls)
    costs = recorded.costs
    usage = outcome.calls[-1].usage
    result = {
        "task_id": qe.id, "status": "complete", "attempt": attempt,
        "model": outcome.model.name, "worker": self.request.hostname,
        "chunks": publisher.chunks, "usage": usage.model_dump(),
        "cost_usd": str(sum(costs, Decimal(0))),
        "calls": [{"model": c.model.name, "usage": c.usage.model_dump(), "cost_usd": str(cost)}
                  for c, cost in zip(outcome.calls, costs, strict=True)],
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    publisher.emit("complete", result if streaming else result | {"text": outcome.text})
    announce_costs(self, recorded)
    return result | {"text": outcome.text}


@worker_ready.connect
def _tune_for_streaming(**_: Any) -> None:
    # Everything imported so far lives as long as the process: keep it out of GC passes, and
    # hand the GIL round more often so a relay or subscriber thread is not kept waiting by
    # busy task threads (first-chunk latency).
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)
    ledger = get_ledger()
    if ledger.active:  # PostgreSQL is the source of truth for spend: never trust a fresh Redis
        try:
            ledger.rebuild()
        except Exception as exc:  # PostgreSQL down at start: beat rebuilds later
            log.warning("budget rebuild at start failed: %s", exc)
    port = os.environ.get("FLEET_METRICS_PORT")
    if port:
        prometheus_client.start_http_server(int(port))


@worker_ready.connect
def _spool_held_cost_rows(**_: Any) -> None:
    # Rows a killed worker of this host held on disk through a PostgreSQL + Redis outage (or
    # this process's predecessor, restarted with the same pid).
    try:
        _costs.adopt_held()
        _costs.flush_held()
    except Exception as exc:  # Redis still away: the rows stay on disk for the next start
        log.warning("could not spool held cost rows at start: %s", exc)


@worker_ready.connect
def _start_outbox_sweeper(**_: Any) -> None:
    # Every worker sweeps (one at a time, by a lock): a fleet needs no beat for it.
    outbox.Sweeper(get_redis(), send_execute,
                   interval=min(5.0, outbox.redeliver_after() / 2)).start()


@worker_init.connect
def _check_queue_credentials(sender: Any = None, **_: Any) -> None:
    """A worker for ``model.<name>`` refuses to start when that model has no API key."""
    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", None) or {}
    registry = ModelRegistry.from_config(get_config(), runtime=False)
    for queue in queues:
        name = queue.removeprefix("model.")
        if queue.startswith("model.") and name in registry:
            try:
                check_credentials(registry.get(name))
            except FleetError as exc:
                log.critical("%s", exc)
                raise SystemExit(f"fleet: {exc}") from None
