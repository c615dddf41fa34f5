"""``fleet.execute``: run one routed QE task on its model and stream the output.

Runs on ``model.<name>`` queues. Each delivery is one *attempt* (numbered in Redis), publishes
start → chunk… → progress… → complete (or error) with gap-free seq, and records one cost row per
finished attempt. A redelivered task whose stream already ended is acknowledged without rerunning.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task
from celery.exceptions import Ignore

from fleet.app import app
from fleet.buffer import BufferManager
from fleet.config import get_config
from fleet.costs import CostTracker
from fleet.dispatch import get_flags
from fleet.errors import FleetError, ProviderError
from fleet.models import ModelSelection, QETask, TokenUsage
from fleet.prompts import build_prompt
from fleet.redis_client import get_redis
from fleet.stream import StreamPublisher
from fleet.tokens import estimate_tokens
from workers.providers import CompletionRequest, TextDelta, provider_for

log = logging.getLogger("fleet.execute")

ATTEMPT_TTL_SECONDS = 24 * 3600
PROGRESS_EVERY_CHUNKS = 8
_costs = CostTracker()


def next_attempt(task_id: str) -> int:
    key = f"fleet:attempt:{task_id}"
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, ATTEMPT_TTL_SECONDS)
    attempt, _ = pipe.execute()
    return int(attempt)


@app.task(name="fleet.execute", bind=True, acks_late=True, throws=(FleetError,))
def execute(self: Task, task: dict[str, Any], selection: dict[str, Any]) -> dict[str, Any]:
    qe = QETask.model_validate(task)
    chosen = ModelSelection.model_validate(selection)
    model = chosen.model_config_
    publisher = StreamPublisher(qe.id, model.name)
    if publisher.finished:
        # Ignore leaves the first attempt's stored result in place for AsyncResult(task.id).
        log.info("task %s already finished; duplicate delivery acknowledged", qe.id)
        raise Ignore()
    attempt = next_attempt(qe.id)
    streaming = (get_flags().is_enabled("streaming", qe.agent_type) and qe.stream
                 and model.capabilities.supports_streaming)
    system, prompt = build_prompt(qe)
    publisher.emit("start", {"attempt": attempt, "provider": model.provider,
                             "streaming": streaming, "complexity": chosen.complexity.overall,
                             "estimated_tokens": qe.max_output_tokens})
    started = time.monotonic()
    try:
        text, usage, chunks = _run(qe, chosen, system, prompt, publisher, streaming)
    except FleetError as exc:
        publisher.emit("error", exc.to_dict() | {"attempt": attempt})
        raise
    except Exception as exc:  # a provider bug must end the stream, not leave it hanging
        error = ProviderError(f"{type(exc).__name__}: {exc}")
        publisher.emit("error", error.to_dict() | {"attempt": attempt})
        raise error from exc
    entry = _costs.entry(task_id=qe.id, attempt=attempt, model=model, task_type=qe.type.value,
                         agent_id=qe.agent_id, usage=usage)
    _costs.record([entry])
    result = {
        "task_id": qe.id, "status": "complete", "attempt": attempt, "model": model.name,
        "worker": self.request.hostname,
        "chunks": chunks, "usage": usage.model_dump(), "cost_usd": str(entry.cost_usd),
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    publisher.emit("complete", result if streaming else result | {"text": text})
    return result | {"text": text}


def _run(qe: QETask, chosen: ModelSelection, system: str, prompt: str,
         publisher: StreamPublisher, streaming: bool) -> tuple[str, TokenUsage, int]:
    model = chosen.model_config_
    settings = get_config().streaming
    provider = provider_for(model)
    request = CompletionRequest(task_id=qe.id, model=model, system=system, prompt=prompt,
                                max_output_tokens=qe.max_output_tokens)
    buffer = BufferManager(settings.flush_chars, settings.flush_ms)
    parts: list[str] = []
    usage: TokenUsage | None = None
    chunks = 0
    deltas = 0

    def send(chunk: str | None) -> None:
        nonlocal chunks
        if chunk is None or not streaming:
            return
        publisher.emit("chunk", {"text": chunk})
        chunks += 1
        if chunks % PROGRESS_EVERY_CHUNKS == 0:
            done = min(deltas / qe.max_output_tokens, 0.99)
            remaining = max(qe.max_output_tokens - deltas, 0)
            publisher.emit("progress", {"percent": round(done * 100, 1), "tokens": deltas,
                                        "estimated_remaining": remaining})

    for item in provider.stream(request):
        if isinstance(item, TextDelta):
            parts.append(item.text)
            deltas += 1
            send(buffer.add(item.text))
        else:
            usage = item
    send(buffer.flush())
    text = "".join(parts)
    if usage is None:  # COST_001: the provider reported nothing; estimate and say so
        usage = TokenUsage(input_tokens=estimate_tokens(system + prompt),
                           output_tokens=estimate_tokens(text), estimated=True)
    return text, usage, chunks
