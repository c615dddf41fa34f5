"""The OpenAI-compatible face of the gateway: ``POST /v1/chat/completions`` and
``GET /v1/models``.

``model: "auto"`` scores the conversation and routes it through the fleet like any task
(validate, route, reserve, model queue, worker, stream, price); a configured model name pins
it. ``stream: true`` answers with ``chat.completion.chunk`` Server-Sent Events ending
``data: [DONE]`` (the last chunk carries ``usage`` when ``stream_options.include_usage`` is
set); otherwise one ``chat.completion``. The response's ``model`` is the model that answered
and ``X-Fleet-Task-Id`` the task. Errors use OpenAI's shape with the fleet's code in ``code``.
Sampling parameters (temperature, top_p…) are accepted and not applied: the fleet's models run
with their providers' defaults.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from fleet.dispatch.route import submit
from fleet.errors import (
    BudgetExceeded,
    FleetError,
    InvalidTask,
    NoAffordableModel,
    PayloadTooLarge,
    UnknownModel,
    describe_invalid,
)
from fleet.http.body import read_body
from fleet.http.tasks import remember_owner
from fleet.qe.chat import chat_task
from fleet.services import get_services
from fleet.streaming.subscribe import asubscribe

AUTO = "auto"
AGENT_TYPE = "openai-client"
STATUS: dict[type[FleetError], int] = {InvalidTask: 400, UnknownModel: 404,
                                       PayloadTooLarge: 413, BudgetExceeded: 429,
                                       NoAffordableModel: 429}


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # sampling parameters are accepted, not applied
    model: str = Field(min_length=1, max_length=100)
    messages: list[Message] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=200_000)
    max_completion_tokens: int | None = Field(default=None, gt=0, le=200_000)
    user: str | None = Field(default=None, max_length=256)


def openai_error(error: FleetError) -> JSONResponse:
    status = STATUS.get(type(error), 500)
    kind = ("invalid_request_error" if status < 429 else "rate_limit_error" if status == 429
            else "server_error")
    return JSONResponse({"error": {"message": str(error), "type": kind, "param": None,
                                   "code": error.code}}, status_code=status)


def _usage(data: dict[str, Any]) -> dict[str, Any]:
    calls = [c["usage"] for c in data.get("calls", [])] or [data.get("usage") or {}]
    cached = sum(u.get("cached_tokens", 0) for u in calls)
    prompt = sum(u.get("input_tokens", 0) + u.get("cache_write_tokens", 0) for u in calls)
    completion = sum(u.get("output_tokens", 0) for u in calls)
    return {"prompt_tokens": prompt + cached, "completion_tokens": completion,
            "total_tokens": prompt + cached + completion,
            "prompt_tokens_details": {"cached_tokens": cached}}


async def _events(task_id: str) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """(type, model, data) of the task's events, to the final one."""
    services = get_services()
    async for event in asubscribe(services.settings.fleet_redis_url, task_id,
                                  timeout=services.config.fleet.task_timeout):
        yield event.type, event.model, event.data


async def chat_completions(request: Request) -> Response:
    limit = get_services().config.fleet.max_payload_bytes
    try:
        body = await read_body(request.stream(), limit)
        chat = ChatRequest.model_validate_json(body)
    except ValidationError as exc:
        return openai_error(InvalidTask(describe_invalid(exc)))
    except FleetError as exc:
        return openai_error(exc)
    fields: dict[str, Any] = {"agent_type": AGENT_TYPE,
                              "agent_id": request.scope.get("fleet.caller") or chat.user,
                              "max_output_tokens": chat.max_completion_tokens or chat.max_tokens
                              or 2048}
    if chat.model != AUTO:
        fields["preferred_model"] = chat.model
    try:
        task = chat_task([m.model_dump(exclude_none=True) for m in chat.messages], **fields)
        await run_in_threadpool(remember_owner, task.id, request.scope.get("fleet.caller"))
        await run_in_threadpool(submit, task)
    except ValidationError as exc:
        return openai_error(InvalidTask(describe_invalid(exc)))
    except FleetError as exc:
        return openai_error(exc)
    headers = {"X-Fleet-Task-Id": task.id}
    completion_id, created = f"chatcmpl-{task.id}", int(time.time())
    if chat.stream:
        include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
        return StreamingResponse(_chunks(task.id, completion_id, created, include_usage),
                                 media_type="text/event-stream", headers=headers)
    text, model = [], ""
    async for kind, model, data in _events(task.id):
        if kind == "chunk":
            text.append(str(data.get("text", "")))
        elif kind == "error":
            return JSONResponse({"error": {"message": str(data.get("message")),
                                           "type": "server_error", "param": None,
                                           "code": data.get("code")}},
                                status_code=500, headers=headers)
        elif kind == "complete":
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": created,
                "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": str(
                                                 data.get("text", "".join(text)))}}],
                "usage": _usage(data)}, headers=headers)
    raise InvalidTask(f"task {task.id} ended without a final event")  # unreachable: the
    # subscription ends only at a final event or raises on silence


def _chunk(completion_id: str, created: int, model: str, delta: dict[str, Any],
           finish: str | None = None) -> str:
    return "data: " + json.dumps({
        "id": completion_id, "object": "chat.completion.chunk", "created": created,
        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}) \
        + "\n\n"


async def _chunks(task_id: str, completion_id: str, created: int,
                  include_usage: bool) -> AsyncIterator[str]:
    started = False
    async for kind, model, data in _events(task_id):
        if not started and kind in ("start", "chunk", "complete"):
            started = True
            yield _chunk(completion_id, created, model, {"role": "assistant", "content": ""})
        if kind == "chunk":
            yield _chunk(completion_id, created, model, {"content": str(data.get("text", ""))})
        elif kind == "complete":
            if "text" in data:  # not streamed by the worker: the whole text at once
                yield _chunk(completion_id, created, model, {"content": str(data["text"])})
            yield _chunk(completion_id, created, model, {}, "stop")
            if include_usage:
                yield "data: " + json.dumps({
                    "id": completion_id, "object": "chat.completion.chunk", "created": created,
                    "model": model, "choices": [], "usage": _usage(data)}) + "\n\n"
        elif kind == "error":
            yield "data: " + json.dumps({"error": {
                "message": str(data.get("message")), "type": "server_error", "param": None,
                "code": data.get("code")}}) + "\n\n"
    yield "data: [DONE]\n\n"


async def list_models(request: Request) -> Response:
    services = get_services()
    models = [m for m in services.registry.all() if m.enabled]
    return JSONResponse({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": owner}
        for name, owner in [(AUTO, "qe-fleet"), *((m.name, m.provider) for m in models)]]})
