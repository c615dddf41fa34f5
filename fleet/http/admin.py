"""The routes for what the CLI does: the cost report, the budget, the flags, the models."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fleet import views
from fleet.errors import InvalidTask, UnknownModel, describe_invalid
from fleet.services import get_services

MAX_BODY = 4096


async def costs(request: Request) -> Response:
    period = request.query_params.get("period", "day")
    by = request.query_params.get("by", "model")
    if period not in ("day", "week", "month") or by not in ("model", "task-type", "agent"):
        raise InvalidTask("period is day, week or month; by is model, task-type or agent")
    return JSONResponse(await run_in_threadpool(views.costs, get_services(), period, by))


async def budget(request: Request) -> Response:
    return JSONResponse(await run_in_threadpool(views.budget, get_services()))


async def get_flags(request: Request) -> Response:
    params = request.query_params
    return JSONResponse(await run_in_threadpool(
        views.flags, get_services(), params.get("agent_type"), params.get("env")))


class FlagChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flag: Literal["multiModelRouter", "streaming"]
    state: Literal["on", "off", "default"]
    agent_type: str | None = Field(default=None, max_length=128)
    env: str | None = Field(default=None, max_length=64)


async def put_flags(request: Request) -> Response:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidTask(f"a flag change is at most {MAX_BODY} bytes")
    try:
        change = FlagChange.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidTask(describe_invalid(exc)) from None
    manager = get_services().flags

    def apply() -> dict[str, Any]:
        if change.state == "default":
            manager.unset(change.flag, change.agent_type, change.env)
        else:
            manager.set(change.flag, change.state == "on", change.agent_type, change.env)
        return views.flags(get_services(), change.agent_type, change.env)

    return JSONResponse(await run_in_threadpool(apply))


async def set_model_enabled(request: Request) -> Response:
    name = str(request.path_params["name"])
    enabled = request.url.path.endswith("/enable")
    registry = get_services().registry
    if name not in {m.name for m in registry.all()}:
        raise UnknownModel(f"no model named {json.dumps(name[:100])}")
    await run_in_threadpool(registry.set_enabled, name, enabled)
    return JSONResponse({"model": name, "enabled": enabled})
