"""The task routes: submit a task, read its result, follow its stream as Server-Sent Events
(``id`` is the event's ``seq``, so ``Last-Event-ID`` resumes without a gap or a repeat), cancel
it. A task submitted with a token is owned by the token's name (its ``agent_id``)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from fleet.app import app as celery_app
from fleet.backends import keys
from fleet.dispatch.cancel import cancel_task
from fleet.dispatch.intake import parse_task, parse_task_id
from fleet.dispatch.route import submit
from fleet.errors import InvalidTask, UnknownTask
from fleet.http.body import read_body
from fleet.services import get_config, get_services, get_settings
from fleet.streaming.subscribe import LOG_TTL_SECONDS, asubscribe

OWNER_TTL_SECONDS = 24 * 3600
SSE_HEARTBEAT_SECONDS = 15.0
SSE_RETRY_MS = 500
UNKNOWN_GRACE_SECONDS = 5.0
WATCH_PAGE = (Path(__file__).parent / "static" / "watch.html").read_text()


def task_id_of(request: Request) -> str:
    return parse_task_id(str(request.path_params["task_id"]))


def remember_owner(task_id: str, caller: str | None) -> None:
    if caller is not None:
        get_services().redis.set(keys.owner(task_id), caller,
                                 ex=max(OWNER_TTL_SECONDS, LOG_TTL_SECONDS))


def owner_of(task_id: str) -> str | None:
    owner = get_services().redis.get(keys.owner(task_id))
    return owner.decode() if isinstance(owner, bytes) else owner  # type: ignore[return-value]


async def submit_task(request: Request) -> Response:
    limit = get_config().fleet.max_payload_bytes
    task = parse_task(await read_body(request.stream(), limit), limit)
    caller = request.scope.get("fleet.caller")
    if caller is not None:  # costs are reported per caller: the token's name, not its text
        task = task.model_copy(update={"agent_id": caller})
    await run_in_threadpool(remember_owner, task.id, caller)
    selection = await run_in_threadpool(submit, task)
    return JSONResponse(
        {"task_id": task.id, "selection": selection.model_dump(mode="json", by_alias=True),
         "events": f"/v1/tasks/{task.id}/events"}, status_code=202)


def known(task_id: str, state: str) -> bool:
    """Whether the fleet has any record of the task: a result, a stream, a queued message."""
    if state != "PENDING":
        return True
    client = get_services().redis
    return bool(client.exists(keys.stream_log(task_id), keys.owner(task_id))
                or client.hexists(keys.OUTBOX, task_id))


async def task_result(request: Request) -> Response:
    task_id = task_id_of(request)
    result = celery_app.AsyncResult(task_id)
    state = await run_in_threadpool(lambda: result.state)
    if not await run_in_threadpool(known, task_id, state):
        raise UnknownTask(f"no task {task_id}")
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
    yield f"retry: {SSE_RETRY_MS}\n\n"  # a browser that loses the connection is back soon
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
    task_id, after = task_id_of(request), _after_seq(request)
    # A task sent to fleet.dispatch a moment ago may not be routed yet: a short grace first.
    deadline = time.monotonic() + UNKNOWN_GRACE_SECONDS
    while not await run_in_threadpool(known, task_id, "PENDING"):
        if time.monotonic() >= deadline:
            raise UnknownTask(f"no task {task_id} (waited {UNKNOWN_GRACE_SECONDS:g} s)")
        await anyio.sleep(0.2)
    frames = sse_frames(task_id, after)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def watch_page(request: Request) -> Response:
    """A page that follows the task's stream in a browser (EventSource, resuming after drops).
    The page is static; its stream needs the token's access like any client."""
    task_id_of(request)
    return HTMLResponse(WATCH_PAGE)


async def cancel(request: Request) -> Response:
    task_id = task_id_of(request)
    outcome = await run_in_threadpool(cancel_task, get_services(), task_id,
                                      "cancelled over HTTP")
    return JSONResponse({"task_id": task_id, "outcome": outcome})
