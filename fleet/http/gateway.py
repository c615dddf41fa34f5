"""HTTP gateway: submit QE tasks, read their results and follow their streams over HTTP.

A thin ASGI app (Starlette) over the same paths Python callers use: ``POST /v1/tasks`` is
:func:`fleet.dispatch.route.submit` (validate, route, reserve budget, enqueue on the model
queue), ``GET /v1/tasks/{id}/events`` is :func:`fleet.streaming.subscribe.asubscribe` as
Server-Sent Events (the SSE ``id`` is the event's ``seq``, so a reconnecting client's
``Last-Event-ID`` resumes the stream without a gap or a repeat). Errors are JSON bodies
carrying the fleet's error codes.

With ``FLEET_GATEWAY_TOKEN`` set every route but ``/healthz`` needs
``Authorization: Bearer <token>``. ``GET /metrics`` serves the Prometheus metrics of the
routing done here. Run with ``fleet gateway`` (uvicorn).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import prometheus_client
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fleet.app import app as celery_app
from fleet.contracts import MAX_TASK_ID, TASK_ID_PATTERN
from fleet.dispatch.intake import parse_task
from fleet.dispatch.route import submit
from fleet.errors import (
    BudgetExceeded,
    FleetError,
    InvalidTask,
    ModelSelectionFailed,
    NoAffordableModel,
    PayloadTooLarge,
    UnknownModel,
)
from fleet.http import openai
from fleet.http.auth import BearerToken
from fleet.http.body import read_body
from fleet.services import get_config, get_services, get_settings
from fleet.streaming.subscribe import asubscribe

# What each error means to an HTTP client; anything else is the fleet's fault (500).
STATUS: dict[type[FleetError], int] = {
    InvalidTask: 422, UnknownModel: 422, ModelSelectionFailed: 422, PayloadTooLarge: 413,
    BudgetExceeded: 429, NoAffordableModel: 429,
}
_TASK_ID = re.compile(TASK_ID_PATTERN)
SSE_HEARTBEAT_SECONDS = 15.0


def _task_id(request: Request) -> str:
    task_id = str(request.path_params["task_id"])
    if len(task_id) > MAX_TASK_ID or not _TASK_ID.fullmatch(task_id):
        raise InvalidTask(f"task id must be 1-{MAX_TASK_ID} letters, digits or .:-, starting "
                          "with a letter or digit")
    return task_id


async def submit_task(request: Request) -> Response:
    limit = get_config().fleet.max_payload_bytes
    task = parse_task(await read_body(request.stream(), limit), limit)
    selection = await run_in_threadpool(submit, task)
    return JSONResponse(
        {"task_id": task.id, "selection": selection.model_dump(mode="json", by_alias=True),
         "events": f"/v1/tasks/{task.id}/events"}, status_code=202)


async def task_result(request: Request) -> Response:
    task_id = _task_id(request)
    result = celery_app.AsyncResult(task_id)
    state = await run_in_threadpool(lambda: result.state)
    body: dict[str, Any] = {"task_id": task_id, "state": state}
    if state == "SUCCESS":
        body["result"] = result.result
    elif state == "FAILURE":
        body["error"] = str(result.result)
    return JSONResponse(body)


def _after_seq(request: Request) -> int:
    raw = request.headers.get("last-event-id") or request.query_params.get("after_seq") or "-1"
    if not re.fullmatch(r"-?\d{1,18}", raw):
        raise InvalidTask(f"Last-Event-ID / after_seq must be an integer, got {raw[:32]!r}")
    return max(-1, int(raw))


async def sse_frames(task_id: str, after: int) -> AsyncIterator[str]:
    """The task's events after ``after`` as SSE frames, ending after the final event."""
    while True:
        try:
            async for event in asubscribe(get_settings().fleet_redis_url, task_id, after,
                                          timeout=SSE_HEARTBEAT_SECONDS):
                after = event.seq
                yield (f"id: {event.seq}\nevent: {event.type}\n"
                       f"data: {json.dumps(event.model_dump(mode='json'))}\n\n")
            return
        except TimeoutError:
            # Quiet (queued, or a slow model): a comment keeps proxies from closing the
            # connection; then follow again from the last event sent.
            yield ": waiting\n\n"


async def task_events(request: Request) -> Response:
    frames = sse_frames(_task_id(request), _after_seq(request))
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def health(request: Request) -> Response:
    try:
        await run_in_threadpool(get_services().redis.ping)
    except Exception as exc:  # a health check reports, it does not raise
        return JSONResponse({"status": "down", "redis": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process: the routing done in the gateway is counted here."""
    return Response(prometheus_client.generate_latest(),
                    media_type=prometheus_client.CONTENT_TYPE_LATEST)


async def _fleet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FleetError)
    return JSONResponse({"error": exc.to_dict()}, status_code=STATUS.get(type(exc), 500))


def create_app() -> Starlette:
    return Starlette(
        routes=[Route("/v1/tasks", submit_task, methods=["POST"]),
                Route("/v1/chat/completions", openai.chat_completions, methods=["POST"]),
                Route("/v1/models", openai.list_models, methods=["GET"]),
                Route("/v1/tasks/{task_id}", task_result, methods=["GET"]),
                Route("/v1/tasks/{task_id}/events", task_events, methods=["GET"]),
                Route("/healthz", health, methods=["GET"]),
                Route("/metrics", metrics, methods=["GET"])],
        middleware=[Middleware(BearerToken)],
        exception_handlers={FleetError: _fleet_error})
