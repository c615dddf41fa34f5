"""The HTTP gateway: every route, the access each needs, and the app that serves them.

A thin ASGI app (Starlette) over the paths Python callers use: tasks (fleet/http/tasks.py:
submit, result, Server-Sent Events with resume, cancel), the OpenAI-compatible chat endpoint
(fleet/http/openai.py), what the CLI does (fleet/http/admin.py: costs, budget, flags, models),
metrics and health. Bearer tokens with scopes and per-token rate limits: fleet/http/auth.py.
The route table below is also the OpenAPI document (``GET /openapi.json``). Errors are JSON
bodies carrying the fleet's error codes. Run with ``fleet gateway`` (uvicorn).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import prometheus_client
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fleet import monitoring
from fleet.contracts import QETask
from fleet.errors import (
    BudgetExceeded,
    FleetError,
    InvalidTask,
    ModelSelectionFailed,
    NoAffordableModel,
    PayloadTooLarge,
    UnknownModel,
    UnknownTask,
)
from fleet.http import admin, auth, openai, tasks
from fleet.http.auth import ALL, Access, BearerToken
from fleet.services import get_services

# What each error means to an HTTP client; anything else is the fleet's fault (500).
STATUS: dict[type[FleetError], int] = {
    InvalidTask: 422, UnknownModel: 422, ModelSelectionFailed: 422, PayloadTooLarge: 413,
    BudgetExceeded: 429, NoAffordableModel: 429, UnknownTask: 404,
}


async def health(request: Request) -> Response:
    try:
        await run_in_threadpool(get_services().redis.ping)
    except Exception as exc:  # a health check reports, it does not raise
        return JSONResponse({"status": "down", "redis": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process (the routing done in the gateway), and what is read
    at scrape time: queue depths, budget used, savings (fleet/monitoring.py)."""
    body = await run_in_threadpool(prometheus_client.generate_latest)
    return Response(body, media_type=prometheus_client.CONTENT_TYPE_LATEST)


async def openapi_document(request: Request) -> Response:
    return JSONResponse(openapi())


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the route table (each operation's access in x-fleet-access)."""
    paths: dict[str, dict[str, Any]] = {}
    bodies = {"/v1/tasks": QETask.model_json_schema(),
              "/v1/chat/completions": openai.ChatRequest.model_json_schema(),
              "/v1/flags": admin.FlagChange.model_json_schema()}
    for e in ENDPOINTS:
        operation: dict[str, Any] = {"summary": e.summary, "x-fleet-access": e.access or "open",
                                     "responses": {"200": {"description": "OK"}}}
        if e.access is not None:
            operation["security"] = [{"bearer": []}]
        if e.method in ("POST", "PUT") and e.path in bodies:
            operation["requestBody"] = {"content": {"application/json": {
                "schema": bodies[e.path]}}}
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {"openapi": "3.1.0", "info": {"title": "qe-fleet gateway", "version": "1"},
            "paths": paths, "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}}}}


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods in the fleet's JSON error shape too."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": {"code": f"HTTP_{exc.status_code}", "name": "HTTPError",
                                   "message": str(exc.detail)}}, status_code=exc.status_code)


async def _fleet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FleetError)
    return JSONResponse({"error": exc.to_dict()}, status_code=STATUS.get(type(exc), 500))


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Callable[[Request], Awaitable[Response]]
    access: Access | Literal["own", "any"] | None  # None: open; own: read, or its submitter
    summary: str


ENDPOINTS = [
    Endpoint("POST", "/v1/tasks", tasks.submit_task, "submit",
             "Submit a QE task (validated, routed, budgeted, enqueued); 202 with its selection"),
    Endpoint("GET", "/v1/tasks/{task_id}", tasks.task_result, "own",
             "The task's state and, when done, its result or error"),
    Endpoint("GET", "/v1/tasks/{task_id}/events", tasks.task_events, "own",
             "The task's stream as Server-Sent Events; Last-Event-ID resumes"),
    Endpoint("GET", "/watch/{task_id}", tasks.watch_page, None,
             "A page following the task's stream in a browser (EventSource)"),
    Endpoint("POST", "/v1/tasks/{task_id}/cancel", tasks.cancel, "own",
             "Cancel the task: TASK_004 ends its stream, its reservation is released"),
    Endpoint("POST", "/v1/chat/completions", openai.chat_completions, "submit",
             "OpenAI-compatible chat completion through the fleet (model auto routes)"),
    Endpoint("GET", "/v1/models", openai.list_models, "any",
             "auto and the enabled models (OpenAI's list shape)"),
    Endpoint("POST", "/v1/models/{name}/enable", admin.set_model_enabled, "admin",
             "Enable a model fleet-wide"),
    Endpoint("POST", "/v1/models/{name}/disable", admin.set_model_enabled, "admin",
             "Disable a model fleet-wide"),
    Endpoint("GET", "/v1/costs", admin.costs, "read",
             "The cost report (?period=day|week|month&by=model|task-type|agent)"),
    Endpoint("GET", "/v1/budget", admin.budget, "read", "The budget status"),
    Endpoint("GET", "/v1/flags", admin.get_flags, "read",
             "The effective feature flags (?agent_type=&env=)"),
    Endpoint("PUT", "/v1/flags", admin.put_flags, "admin",
             "Set a flag: {flag, state: on|off|default, agent_type?, env?}"),
    Endpoint("GET", "/metrics", metrics, "read", "Prometheus metrics"),
    Endpoint("GET", "/healthz", health, None, "200 when Redis answers"),
    Endpoint("GET", "/openapi.json", openapi_document, None, "This document"),
]


def guarded(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint's handler behind its access rule (403 outside the token's scopes)."""

    async def handle(request: Request) -> Response:
        if not await allowed(request, endpoint.access):
            needed = ("read, or submit for its own tasks" if endpoint.access == "own"
                      else endpoint.access)
            return auth.error(403, "AUTH_002", "Forbidden",
                              f"this token may not {endpoint.method} {endpoint.path} "
                              f"(needs {needed})")
        return await endpoint.handler(request)

    return handle


async def allowed(request: Request, access: Access | Literal["own", "any"] | None) -> bool:
    """Whether the request's token may use a route of ``access``: admin includes read and
    submit; a task's own routes are open to read, and to submit for the tasks it submitted."""
    scopes = request.scope.get("fleet.scopes", ALL)
    scopes = ALL if "admin" in scopes else scopes
    if access is None or access == "any" or access in scopes or (
            access == "own" and "read" in scopes):
        return True
    if access != "own" or "submit" not in scopes:
        return False
    caller = request.scope.get("fleet.caller")
    task_id = tasks.task_id_of(request)
    return caller is not None and await run_in_threadpool(tasks.owner_of, task_id) == caller


def create_app() -> Starlette:
    monitoring.register(get_services())
    return Starlette(
        routes=[Route(e.path, guarded(e), methods=[e.method]) for e in ENDPOINTS],
        middleware=[Middleware(BearerToken)],
        exception_handlers={FleetError: _fleet_error, HTTPException: _http_error})
