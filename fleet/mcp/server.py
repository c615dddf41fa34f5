"""``fleet mcp``: the fleet's QE tools over MCP (the official SDK's low-level server), on stdio
or streamable HTTP behind the gateway's bearer token.

A QE tool call is a fleet task like any other: validated, routed, budgeted and enqueued on its
model's queue (:func:`fleet.dispatch.route.submit`). While it runs, each event of its stream
becomes an MCP progress notification (percent, and the text streamed since the last one, in
order; a fallback or an escalation is announced); with the streaming flag off for the MCP agent
type the tool answers once. The answer's ``structuredContent`` is the type's validated result.
A call the client cancels cancels the task (:func:`fleet.dispatch.cancel.cancel_task`). Errors
are tool errors carrying the fleet's code and recovery hint, never a traceback.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import mcp.types as types
from mcp.server import Server, ServerRequestContext
from pydantic import ValidationError
from starlette.types import ASGIApp

from fleet import views
from fleet.dispatch.cancel import cancel_task
from fleet.dispatch.intake import parse_task, parse_task_id
from fleet.dispatch.route import submit
from fleet.errors import FleetError, InvalidTask, ProviderError, describe_invalid
from fleet.mcp.tools import (
    AGENT_TYPE,
    QE_TOOLS,
    SUPPORT_TOOLS,
    QETool,
    arguments_model,
    qe_tool_definitions,
    task_payload,
)
from fleet.services import get_services
from fleet.streaming.subscribe import asubscribe

log = logging.getLogger("fleet.mcp")

EVENTS_URI = "fleet://tasks/{task_id}/events"
_EVENTS_URI = re.compile(r"^fleet://tasks/([^/]+)/events$")
Report = Callable[[float, str], Awaitable[None]]


def tool_error(error: FleetError | dict[str, Any]) -> types.CallToolResult:
    """A tool error with the fleet's code, message and recovery (``_meta`` holds them too)."""
    fields = error.to_dict() if isinstance(error, FleetError) else error
    text = f"{fields.get('code')} {fields.get('name')}: {fields.get('message')}" + (
        f" — {fields['recovery']}" if fields.get("recovery") else "")
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                is_error=True, _meta={"fleet/error": fields})


def _json_result(value: Any) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=json.dumps(value, indent=2, default=str))],
        structured_content=value)


class Progress:
    """Turns a task's events into progress notifications: percent from its ``progress``
    events, strictly increasing as MCP requires, with the new text as the message."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.percent = 0.0
        self.sent = 0.0

    async def __call__(self, message: str, percent: float | None = None) -> None:
        if percent is not None:
            self.percent = max(self.percent, percent)
        self.sent = min(max(self.percent, self.sent + 0.01), 99.99)
        await self.report(round(self.sent, 2), message)


async def follow(task_id: str, progress: Progress | None, timeout: float) -> dict[str, Any]:
    """The task's final event, reporting each event on the way when ``progress`` is given."""
    url = get_services().settings.fleet_redis_url
    async for event in asubscribe(url, task_id, timeout=timeout):
        if event.final:
            return {"type": event.type, "model": event.model, "data": event.data}
        if progress is None:
            continue
        data = event.data
        if event.type == "chunk":
            await progress(str(data.get("text", "")))
        elif event.type == "progress":
            await progress("", float(data.get("percent", 0)))
        elif event.type == "fallback":
            restart = "; starting over" if data.get("restart") else ""
            await progress(f"\n[{data.get('reason')}: {data.get('from')} → {data.get('to')}"
                           f"{restart}]\n")
        elif event.type == "start":
            await progress(f"[{event.model}]\n")
    raise ProviderError(f"task {task_id}: its stream went silent for {timeout:g} s")


def outcome(tool: QETool, task_id: str, final: dict[str, Any]) -> types.CallToolResult:
    """The tool's answer from the task's final event."""
    data = final["data"]
    if final["type"] == "error":
        return tool_error({k: data.get(k) for k in ("code", "name", "message", "recovery")})
    meta = {"fleet/task": {"task_id": task_id, "model": final["model"],
                           "cost_usd": data.get("cost_usd"), "tried": data.get("tried"),
                           "verification": data.get("verification")}}
    if not data.get("valid") or data.get("result") is None:
        problem = str(data.get("problem") or "no result")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"RESULT_002 ResultInvalid: "
                                                         f"{problem}\n\n{data.get('text', '')}")],
            is_error=True, _meta=meta)
    summary = f"{tool.title}: answered by {final['model']} for ${data.get('cost_usd')}"
    if data.get("verification"):
        run = data["verification"]
        summary += (f"; tests run: {run.get('passed')} passed, {run.get('failed')} failed, "
                    f"{run.get('errors')} errors, coverage {run.get('coverage_percent')}%")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=summary + "\n\n"
                                   + json.dumps(data["result"], indent=2))],
        structured_content=data["result"], _meta=meta)


async def call_qe_tool(ctx: ServerRequestContext, tool: QETool,
                       arguments: dict[str, Any]) -> types.CallToolResult:
    services = get_services()
    try:
        given = arguments_model(tool.task_type).model_validate(arguments)
    except ValidationError as exc:
        return tool_error(InvalidTask(describe_invalid(exc)))
    task = parse_task(task_payload(tool, given), services.config.fleet.max_payload_bytes)
    await anyio.to_thread.run_sync(submit, task)
    streaming = services.flags.is_enabled("streaming", AGENT_TYPE)

    async def report(progress: float, message: str) -> None:
        await ctx.session.report_progress(progress, 100, message)

    try:
        final = await follow(task.id, Progress(report) if streaming else None,
                             timeout=services.config.fleet.task_timeout)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):  # the client gave up: so does the fleet
            await anyio.to_thread.run_sync(cancel_task, services, task.id)
        raise
    return outcome(tool, task.id, final)


async def call_support_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    services = get_services()
    if name == "qe_models":
        return _json_result(await anyio.to_thread.run_sync(views.models, services))
    if name == "qe_costs":
        period, by = arguments.get("period", "day"), arguments.get("by", "model")
        if period not in ("day", "week", "month") or by not in ("model", "task-type", "agent"):
            raise InvalidTask("period is day, week or month; by is model, task-type or agent")
        return _json_result(await anyio.to_thread.run_sync(views.costs, services, period, by))
    task_id = parse_task_id(str(arguments.get("task_id", "")))
    if name == "qe_cancel_task":
        cancelled = await anyio.to_thread.run_sync(cancel_task, services, task_id)
        return _json_result({"task_id": task_id, "outcome": cancelled})
    return _json_result(await anyio.to_thread.run_sync(views.task_status, services, task_id))


async def on_call_tool(ctx: ServerRequestContext,
                       params: types.CallToolRequestParams) -> types.CallToolResult:
    arguments = params.arguments or {}
    try:
        tool = QE_TOOLS.get(params.name)
        if tool is not None:
            return await call_qe_tool(ctx, tool, arguments)
        if params.name in {t.name for t in SUPPORT_TOOLS}:
            return await call_support_tool(params.name, arguments)
        return tool_error(InvalidTask(f"no tool named {params.name!r}"))
    except FleetError as exc:
        return tool_error(exc)
    except Exception:  # a bug: logged here with its traceback, never sent to the client
        log.exception("tool %s failed", params.name)
        return tool_error(ProviderError("the fleet failed to run the tool; see its log"))


async def on_list_tools(ctx: ServerRequestContext,
                        params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[*qe_tool_definitions(), *SUPPORT_TOOLS])


async def on_list_resource_templates(
        ctx: ServerRequestContext,
        params: types.PaginatedRequestParams | None) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
        name="task-events", title="A task's stream events", uri_template=EVENTS_URI,
        description="Every event of the task's stream so far (start, chunk, progress, "
                    "fallback, complete or error), in order, as JSON.",
        mime_type="application/json")])


async def on_read_resource(ctx: ServerRequestContext,
                           params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    from mcp.shared.exceptions import MCPError

    from fleet.streaming.subscribe import read_log

    match = _EVENTS_URI.match(str(params.uri))
    try:
        task_id = parse_task_id(match.group(1) if match else "")
    except InvalidTask:
        raise MCPError(code=types.INVALID_PARAMS, message=f"no resource {params.uri}") from None
    events = await anyio.to_thread.run_sync(read_log, get_services().redis, task_id)
    return types.ReadResourceResult(contents=[types.TextResourceContents(
        uri=params.uri, mime_type="application/json", text=json.dumps(events))])


def build_server() -> Server:
    return Server("qe-fleet", title="QE fleet", instructions=(
        "Quality-engineering tools backed by a fleet of models: each call is routed to the "
        "cheapest model that can do it, checked, and escalated when the check fails."),
        on_list_tools=on_list_tools, on_call_tool=on_call_tool,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource)


async def serve_stdio() -> None:
    from mcp.server.stdio import stdio_server

    server = build_server()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def http_app(host: str) -> ASGIApp:
    """The streamable HTTP app at ``/mcp``, behind the gateway's bearer tokens (submit)."""
    from fleet.http.auth import BearerToken, RequireAccess

    return BearerToken(RequireAccess(build_server().streamable_http_app(host=host), "submit"))
