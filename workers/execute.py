"""``fleet.execute``: run one routed QE task on its model and stream the output.

Runs on ``model.<name>`` queues. Each delivery is one *attempt*, and its steps are the
functions below, in order: :func:`acquire_attempt` (the lease; a duplicate of a live attempt
waits), :func:`start_stream`, the :class:`~workers.runner.Runner` (chosen model, retries,
fallbacks), :func:`~workers.billing.record_costs` (cost rows, then the budget settle with the
stream), :func:`finish_stream` (``complete`` or ``error``), :func:`~workers.billing.announce_costs`,
:func:`record_outcome` and the release of the lease. Events run start → chunk… / progress…
(→ fallback → chunk…) → complete, or error, with gap-free seq.

A redelivered task whose stream already ended is acknowledged without running again (returning
the result its stream holds). An attempt that loses Redis for longer than the client's retries
is not failed: it waits for Redis, lets its written events land, and the task is retried,
continuing the same stream.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from decimal import Decimal
from typing import Any

import psycopg
from celery import Task
from celery.exceptions import Ignore, Retry

import workers.startup  # noqa: F401  (the worker's start-up hooks)
from fleet.app import app, retry_in_place
from fleet.backends.redis import REDIS_DOWN, wait_for_redis
from fleet.contracts import ModelSelection, QETask, TokenUsage
from fleet.dispatch import outbox
from fleet.errors import BufferOverflow, FleetError, ProviderError, TaskCancelled
from fleet.metrics import (
    BACKPRESSURE,
    CHUNKS_DISCARDED,
    STREAM_BUFFER_PEAK,
    STREAM_CHUNKS,
    STREAM_DURATION,
    STREAM_FIRST_CHUNK,
    STREAMS,
    STREAMS_IN_FLIGHT,
)
from fleet.qe.prompts import build_prompt
from fleet.routing.outcomes import record_outcomes
from fleet.services import Services, get_services
from fleet.streaming.chunker import Chunker
from fleet.streaming.relay import StreamPublisher
from fleet.streaming.subscribe import read_log
from workers.attempt import Attempt, LeaseBusy, LeaseKeeper
from workers.billing import announce_costs, owed_by, record_costs
from workers.cascade import Checked, run_checked
from workers.engine import StreamEngine
from workers.providers import Providers
from workers.runner import RunFailed, Runner

log = logging.getLogger("fleet.execute")

# Redis away for longer than the client's retries; STREAM_001 in a worker means the relay could
# not write the stream's events, which is the same outage.
REDIS_LOST: tuple[type[Exception], ...] = (*REDIS_DOWN, BufferOverflow)
# Each retry after an outage may call the provider again: a Redis that keeps failing ends the
# task with its error instead of paying for it without end.
MAX_RETRIES = 10


def lease_keeper(services: Services) -> LeaseKeeper:
    return services.component("lease-keeper", lambda: LeaseKeeper(
        services.relay, services.scripts["lease"]))


def runner(services: Services) -> Runner:
    return services.component("runner", lambda: Runner(
        services.config, services.registry, services.breaker, Providers(),
        StreamEngine() if services.config.streaming.engine == "asyncio" else None))


# resultrepr_maxsize: task events (Flower) show the result's summary fields, which come first,
# and not the model's text, which comes last.
@app.task(name="fleet.execute", bind=True, acks_late=True, throws=(FleetError,),
          resultrepr_maxsize=400)
def execute(self: Task, task: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    qe = QETask.model_validate(task)
    chosen = ModelSelection.model_validate(selection)
    services = get_services()
    deadline = time.monotonic() + services.config.fleet.task_timeout
    try:
        try:
            attempt = acquire_attempt(services, qe.id)
        except LeaseBusy as busy:  # another attempt is alive: look again once it may lapse
            log.info("%s; checking again then", busy)
            raise retry_kept(self, services, qe, chosen,
                             countdown=busy.wait_ms / 1000 + 0.5) from None
        try:
            return run_attempt(self, services, qe, chosen, attempt, deadline)
        finally:
            lease_keeper(services).release(qe.id)
    except REDIS_LOST as exc:
        log.warning("task %s lost Redis (%s); it is retried once Redis is back", qe.id, exc)
        if (self.request.retries < MAX_RETRIES and wait_for_redis(deadline, services.redis)
                and services.relay.drain(deadline - time.monotonic())):
            with contextlib.suppress(*REDIS_DOWN):  # away again: the next record flushes them
                services.costs.flush_held()  # rows PostgreSQL could not take while Redis was away
            raise retry_kept(self, services, qe, chosen, countdown=0) from exc
        raise


def acquire_attempt(services: Services, task_id: str) -> Attempt:
    """Take the task's lease and number this attempt (LeaseBusy while another is alive)."""
    return lease_keeper(services).acquire(task_id)


def retry_kept(self: Task, services: Services, qe: QETask, chosen: ModelSelection,
               countdown: float) -> Retry:
    """Retry in place, with a copy of the retry message in the outbox until a worker takes
    it: a retry message the broker loses is sent again like the dispatcher's."""
    outbox.remember(services.redis, outbox.execute_message(qe, chosen),
                    now=time.time() + countdown)
    return retry_in_place(self, countdown=countdown)


def run_attempt(self: Task, services: Services, qe: QETask, chosen: ModelSelection,
                begun: Attempt, deadline: float) -> dict[str, Any]:
    publisher = open_stream(services, qe.id, chosen.model_name, begun)
    if publisher.finished:
        return already_finished(services, qe, begun)
    if begun.cancelled:  # cancelled while an attempt that died held it: end it, unrun
        return end_cancelled(services, qe, publisher, begun)
    # A redelivered task (its worker died mid-stream) continues the text already streamed.
    delivered = delivered_text(services, qe.id) if publisher.next_seq else ""
    model = chosen.model_config_
    streaming = (services.flags.is_enabled("streaming", qe.agent_type) and qe.stream
                 and model.capabilities.supports_streaming)
    start_stream(publisher, qe, chosen, begun.number, streaming, delivered)
    with observed(publisher, model.name) as started:
        return run_and_finish(self, services, qe, chosen, begun, publisher, streaming,
                              delivered, deadline, started)


def run_and_finish(self: Task, services: Services, qe: QETask, chosen: ModelSelection,
                   begun: Attempt, publisher: StreamPublisher, streaming: bool, delivered: str,
                   deadline: float, started: float) -> dict[str, Any]:
    """Run the task (checked), bill it, and end its stream with ``complete`` or ``error``."""
    model, prompt = chosen.model_config_, build_prompt(qe)
    try:
        checked = run_checked(runner(services), qe, chosen, prompt, publisher, streaming,
                              deadline=deadline, delivered=delivered if streaming else "",
                              ledger=services.ledger)
    except RunFailed as failed:
        if isinstance(failed.error, BufferOverflow):  # Redis is away: no error event, a retry
            with contextlib.suppress(*REDIS_DOWN):
                record_costs(services, qe, begun.number, failed.calls)
            raise failed.error from None
        STREAMS.labels(model.name, failed.error.code).inc()
        recorded = record_costs(services, qe, begun.number, failed.calls)
        publisher.emit("error", failed.error.to_dict() | {
            "attempt": begun.number, "failed_calls": [asdict(f) for f in failed.failed]})
        announce_costs(services, self, recorded)
        raise failed.error from None
    except REDIS_DOWN:
        raise
    except Exception as exc:  # a bug must end the stream with an error, not leave it hanging
        error = ProviderError(f"{type(exc).__name__}: {exc}")
        publisher.emit("error", error.to_dict() | {"attempt": begun.number})
        raise error from exc
    outcome = checked.outcome
    STREAMS.labels(outcome.model.name, "complete").inc()
    recorded = record_costs(services, qe, begun.number, outcome.calls)
    result = finish_stream(self, publisher, qe, begun.number, checked, recorded.costs,
                           streaming, started)
    announce_costs(services, self, recorded)
    record_outcome(services, qe, checked)
    return result


@contextlib.contextmanager
def observed(publisher: StreamPublisher, model: str) -> Iterator[float]:
    """The stream's metrics: in flight while it runs; its time to first chunk, duration,
    chunks, peak buffer use, backpressure waits and discarded deltas once it ends."""
    started = time.monotonic()
    in_flight = STREAMS_IN_FLIGHT.labels(model)
    in_flight.inc()
    try:
        yield started
    finally:
        in_flight.dec()
        if publisher.first_chunk_at is not None:
            STREAM_FIRST_CHUNK.labels(model).observe(publisher.first_chunk_at - started)
        STREAM_DURATION.labels(model).observe(time.monotonic() - started)
        STREAM_CHUNKS.labels(model).observe(publisher.chunks)
        STREAM_BUFFER_PEAK.labels(model).observe(publisher.peak_pending
                                                 / publisher.buffer_size)
        BACKPRESSURE.labels(model).inc(publisher.backpressure_waits)
        CHUNKS_DISCARDED.labels(model).inc(publisher.chunker.discarded)


def record_outcome(services: Services, qe: QETask, checked: Checked) -> None:
    """Each checked answer in ``routing_outcomes`` (routing accuracy): statistics, so a
    PostgreSQL that is away costs the rows, never the task."""
    if not checked.tries or not services.db.probably_up():
        return
    try:
        record_outcomes(services.db, qe.id, qe.type.value, checked.tries)
    except psycopg.Error as exc:
        services.db.mark_down()
        log.warning("task %s: routing outcome not recorded (%s)", qe.id, exc)


def open_stream(services: Services, task_id: str, model: str,
                attempt: Attempt) -> StreamPublisher:
    """The task's publisher, continuing its stream's numbering after ``attempt.last_event``."""
    settings = services.config.streaming
    return StreamPublisher(
        task_id, model, services.relay, chunker=Chunker(settings.flush_chars, settings.flush_ms),
        buffer_size=settings.buffer_size, backpressure_threshold=settings.backpressure_threshold,
        timeout_s=settings.timeout_ms / 1000, last_event=attempt.last_event, log_read=True,
        cancelled=lambda: lease_keeper(services).is_cancelled(task_id))


def already_finished(services: Services, qe: QETask, begun: Attempt) -> dict[str, Any]:
    """A duplicate delivery of a task whose stream ended: acknowledged, not run again."""
    log.info("task %s already finished; duplicate delivery acknowledged", qe.id)
    # Settles what a cut-off attempt left, and drops the reservation a dispatch delivered
    # again after the end made anew: a finished task holds none.
    services.ledger.settle(qe.id, owed_by(services, qe.id, begun.number))
    last_event = begun.last_event
    if last_event is not None and last_event["type"] == "complete":
        # The same result again: the finished attempt may not have stored it (Redis went
        # away between its last event and its result).
        data: dict[str, Any] = last_event["data"]
        return data if "text" in data else data | {"text": delivered_text(services, qe.id)}
    raise Ignore()  # keeps the failed attempt's stored error


def end_cancelled(services: Services, qe: QETask, publisher: StreamPublisher,
                  begun: Attempt) -> dict[str, Any]:
    """A cancelled task's stream ends with TASK_004 and its budget is settled (what earlier
    attempts spent, the rest released)."""
    error = TaskCancelled(f"task {qe.id} was cancelled before attempt {begun.number} ran")
    services.ledger.settle(qe.id, owed_by(services, qe.id, begun.number))
    publisher.emit("error", error.to_dict() | {"attempt": begun.number})
    raise error


def delivered_text(services: Services, task_id: str) -> str:
    """The text earlier attempts of this task already streamed to subscribers."""
    return "".join(e["data"].get("text", "") for e in read_log(services.redis, task_id)
                   if e["type"] == "chunk")


def start_stream(publisher: StreamPublisher, qe: QETask, chosen: ModelSelection, attempt: int,
                 streaming: bool, delivered: str) -> None:
    publisher.emit("start", {"attempt": attempt, "provider": chosen.model_config_.provider,
                             "streaming": streaming, "complexity": chosen.complexity.overall,
                             "estimated_tokens": qe.max_output_tokens,
                             "resumed_after_chars": len(delivered)})


def finish_stream(self: Task, publisher: StreamPublisher, qe: QETask, attempt: int,
                  checked: Checked, costs: list[Decimal], streaming: bool,
                  started: float) -> dict[str, Any]:
    """The ``complete`` event (with the text when it was not streamed, and the validated
    ``result`` of a task type that asks for one); returns the task's result."""
    outcome = checked.outcome
    result: dict[str, Any] = {
        "task_id": qe.id, "status": "complete", "attempt": attempt,
        "model": outcome.model.name, "worker": self.request.hostname,
        "chunks": publisher.chunks,
        "usage": (outcome.calls[-1].usage if outcome.calls else TokenUsage()).model_dump(),
        "cost_usd": str(sum(costs, Decimal(0))),
        "calls": [{"model": c.model.name, "usage": c.usage.model_dump(), "cost_usd": str(cost)}
                  for c, cost in zip(outcome.calls, costs, strict=True)],
        # Refused before any output: not billed, shown here and in fleet_failed_calls_total.
        "failed_calls": [asdict(f) for f in outcome.failed],
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if checked.valid is not None:
        result |= {"result": checked.result, "valid": checked.valid,
                   "problem": checked.problem, "tried": checked.tried}
    if checked.verification is not None:
        result["verification"] = checked.verification
    publisher.emit("complete", result if streaming else result | {"text": outcome.text})
    return result | {"text": outcome.text}
