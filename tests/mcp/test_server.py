"""``fleet mcp`` driven by the MCP SDK's own client, over stdio and streamable HTTP, against a
running fleet (real workers, simulated provider): the tools and their schemas, a streamed
call's progress before its schema-valid result, a cancelled call that leaves nothing running
or reserved, and bad arguments that come back as tool errors with a code."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from fleet.backends import keys
from fleet.qe.prompts import result_schema
from fleet.qe.results import SPECS
from fleet.qe.test_generation import TestGenerationResult
from fleet.streaming.subscribe import read_log
from tests.fixtures import MODEL_QUEUES, ROOT, WorkerProcess

pytestmark = pytest.mark.integration

CODE = ("def total(prices):\n    return sum(prices)\n\n\n"
        "def mean(xs):\n    return total(xs) / len(xs)\n")
SLOW_MODEL = "claude-opus-4"  # served by a slow worker here, for the cancellation


@pytest.fixture(scope="module")
def mcp_fleet(services) -> Iterator[None]:
    fast = [q for q in MODEL_QUEUES if q != f"model.{SLOW_MODEL}"]
    workers = [WorkerProcess(["fleet.dispatch", *fast], "mcp-fast"),
               WorkerProcess([f"model.{SLOW_MODEL}"], "mcp-slow", {
                   "FLEET_SIM_TOKENS_PER_SECOND": "20", "FLEET_SIM_OUTPUT_TOKENS": "400"})]
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()


@asynccontextmanager
async def stdio_session() -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(command=sys.executable, args=["-m", "fleet.cli", "mcp"],
                                   env=dict(os.environ), cwd=str(ROOT))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(server, errlog=quiet) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            yield session


def run(main: Any) -> Any:
    return anyio.run(main)


def test_every_task_type_is_a_tool_with_its_input_and_result_schemas(mcp_fleet) -> None:
    async def main() -> Any:
        async with stdio_session() as session:
            return {t.name: t for t in (await session.list_tools()).tools}

    tools = run(main)
    assert len([n for n in tools if n.startswith("qe_")]) == len(SPECS) + 4
    generate = tools["qe_generate_tests"]
    assert generate.output_schema == result_schema("test-generation")
    assert {"description", "code", "files", "verify", "framework"} <= set(
        generate.input_schema["properties"])
    assert {"metrics", "policy"} <= set(tools["qe_quality_gate"].input_schema["properties"])
    assert "schema" in tools["qe_generate_test_data"].input_schema["properties"]
    assert {"qe_task_status", "qe_costs", "qe_models", "qe_cancel_task"} <= set(tools)


def test_a_call_streams_progress_in_order_then_a_schema_valid_result(mcp_fleet,
                                                                     redis_client) -> None:
    notes: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        notes.append((value, total, message))

    async def main() -> Any:
        async with stdio_session() as session:
            result = await session.call_tool(
                "qe_generate_tests", {"description": "pytest tests for these", "code": CODE,
                                      "language": "python", "preferred_model": "claude-haiku-4"},
                progress_callback=progress)
            task_id = result.meta["fleet/task"]["task_id"]
            status = await session.call_tool("qe_task_status", {"task_id": task_id})
            events = await session.read_resource(f"fleet://tasks/{task_id}/events")
            models = await session.call_tool("qe_models", {})
            costs = await session.call_tool("qe_costs", {"by": "task-type"})
            return result, status, events, models, costs

    result, status, events, models, costs = run(main)
    assert not models.is_error and "claude-haiku-4" in {
        m["name"] for m in models.structured_content["models"] if m["has_workers"]}
    assert not costs.is_error and "test-generation" in {
        g["task-type"] for g in costs.structured_content["groups"]}
    assert not result.is_error, result.content
    answer = TestGenerationResult.model_validate(result.structured_content)
    assert {c.name for c in answer.cases} == {"test_total_is_callable", "test_mean_is_callable"}
    assert len(notes) > 3
    values = [value for value, _, _ in notes]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing
    streamed = "".join(message or "" for _, _, message in notes)
    assert '"test_file"' in streamed and "test_mean_is_callable" in streamed  # the text, in order
    task_id = result.meta["fleet/task"]["task_id"]
    assert status.structured_content["state"] == "complete"
    assert status.structured_content["selection"]["modelName"] == "claude-haiku-4"
    logged = read_log(redis_client, task_id)
    assert events.contents[0].text.count('"seq"') == len(logged)


def test_a_cancelled_call_cancels_its_task_and_frees_its_budget(mcp_fleet,
                                                                redis_client) -> None:
    seen: list[str] = []
    task_id = f"mcp-cancel-{uuid.uuid4().hex[:10]}"

    async def main() -> None:
        async with stdio_session() as session:
            async with anyio.create_task_group() as group:
                async def progress(value: float, total: float | None,
                                   message: str | None) -> None:
                    seen.append(message or "")
                    if len(seen) == 3:  # mid-stream: the caller gives up
                        group.cancel_scope.cancel()

                async def call() -> None:
                    await session.call_tool(
                        "qe_review_code", {"id": task_id, "description": "Review this.",
                                           "code": CODE, "preferred_model": SLOW_MODEL},
                        progress_callback=progress)

                group.start_soon(call)
            await anyio.sleep(0.5)  # the server hears the cancellation before the session ends

    run(main)
    assert len(seen) == 3
    deadline = time.monotonic() + 10
    while read_log(redis_client, task_id)[-1]["type"] != "error":
        assert time.monotonic() < deadline, read_log(redis_client, task_id)[-1]
        time.sleep(0.1)
    assert read_log(redis_client, task_id)[-1]["data"]["code"] == "TASK_004"
    while redis_client.exists(keys.lease(task_id)):  # the attempt has ended
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert redis_client.hget(keys.BUDGET_RESERVATIONS, task_id) is None


@pytest.mark.parametrize(("tool", "arguments", "code"), [
    ("qe_generate_tests", {}, "TASK_001"),
    ("qe_generate_tests", {"description": "x", "verify": "sometimes"}, "TASK_001"),
    ("qe_generate_test_data", {"description": "x", "schema": {"type": "nonsense"}}, "TASK_001"),
    ("qe_generate_tests", {"description": "x", "preferred_model": "gpt-9"}, "ROUTER_004"),
    ("qe_task_status", {"task_id": "../etc"}, "TASK_001"),
    ("qe_no_such_tool", {}, "TASK_001"),
])
def test_bad_arguments_are_tool_errors_with_a_code(mcp_fleet, tool: str,
                                                   arguments: dict[str, Any], code: str) -> None:
    async def main() -> Any:
        async with stdio_session() as session:
            return await session.call_tool(tool, arguments)

    result = run(main)
    assert result.is_error and result.content[0].text.startswith(code), result.content
    assert result.meta["fleet/error"]["code"] == code
    assert "Traceback" not in result.content[0].text


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_streamable_http_needs_the_token_and_answers_like_stdio(mcp_fleet) -> None:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fleet.cli", "mcp", "--http", "--port", str(port)], cwd=ROOT,
        env={**os.environ, "FLEET_GATEWAY_TOKEN": "mcp-secret"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                refused = httpx2.post(url, json={})
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "AUTH_001"

        async def main() -> Any:
            client = create_mcp_http_client(headers={"Authorization": "Bearer mcp-secret"})
            async with client, streamable_http_client(url, http_client=client) as (read, write), \
                    ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                gate = await session.call_tool("qe_quality_gate", {
                    "description": "Gate it.", "metrics": {"coverage": 91.0},
                    "policy": {"coverage": {"min": 80}}})
                return tools, gate

        tools, gate = anyio.run(main)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "qe_generate_tests" in {t.name for t in tools.tools}
    assert not gate.is_error and gate.structured_content["decision"] == "PASS"


def test_with_streaming_off_for_mcp_clients_the_tool_answers_once(mcp_fleet, fleet) -> None:
    from fleet.mcp.tools import AGENT_TYPE

    notes: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        notes.append(value)

    async def main() -> Any:
        async with stdio_session() as session:
            return await session.call_tool(
                "qe_review_security", {"description": "Review.", "code": CODE,
                                       "preferred_model": "claude-haiku-4"},
                progress_callback=progress)

    fleet.flags.set("streaming", False, AGENT_TYPE)
    try:
        time.sleep(1)  # flags are seen fleet-wide within 0.5 s
        result = run(main)
    finally:
        fleet.flags.unset("streaming", AGENT_TYPE)
    assert not result.is_error and "findings" in result.structured_content
    assert notes == []
