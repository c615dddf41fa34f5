"""A real browser (headless Chromium, driven over the DevTools protocol) follows a task on the
gateway's watch page with EventSource; the test drops the connection mid-stream by restarting
the gateway, and the page resumes from where it was: its text is the task's, once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import websockets

from fleet.streaming.subscribe import read_log
from tests.fixtures import MODEL_QUEUES, WorkerProcess, http_process
from tests.harness import free_port
from tests.test_end_to_end import task_payload

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("chromium") is None,
                                 reason="Chromium is not installed (scripts/test.sh installs it)")]


@pytest.fixture(scope="module")
def slow_worker(services: Any) -> Iterator[None]:
    """Streams of about four seconds: time to drop the connection in the middle of one."""
    proc = WorkerProcess(MODEL_QUEUES, "browser", {"FLEET_SIM_TOKENS_PER_SECOND": "60",
                                                   "FLEET_SIM_OUTPUT_TOKENS": "240"})
    yield
    proc.stop()


@pytest.fixture
def browser() -> Iterator[int]:
    """Headless Chromium with its DevTools port."""
    port = free_port()
    # Chromium's helper processes may still write to the profile as the browser ends: stop
    # its whole process group, and let a straggler's file not fail the test.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                                 f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
                                 "about:blank"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            yield port
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


class Page:
    """One tab, over the DevTools protocol."""

    def __init__(self, socket: Any) -> None:
        self.socket, self.next_id = socket, 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        await self.socket.send(json.dumps({"id": self.next_id, "method": method,
                                           "params": params}))
        while True:
            reply = json.loads(await self.socket.recv())
            if reply.get("id") == self.next_id:
                return dict(reply.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := await self.evaluate(expression)):
            assert time.monotonic() < deadline, expression
            await anyio.sleep(0.1)
        return value


def test_the_watch_page_resumes_after_the_connection_drops(slow_worker, browser,
                                                            redis_client) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with http_process(["fleet.cli", "gateway"], "gateway-browser", "/healthz", port=port) as (
            client, _):
        task_id = client.post("/v1/tasks", json=task_payload()).json()["task_id"]

    async def main() -> tuple[str, str]:
        deadline = time.monotonic() + 15
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{browser}/json/list").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                await anyio.sleep(0.2)
        target = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(target["webSocketDebuggerUrl"], max_size=None) as socket:
            page = Page(socket)
            with http_process(["fleet.cli", "gateway"], "gateway-browser-1", "/healthz",
                              port=port, crash=True):
                await page.call("Page.navigate", url=f"{base}/watch/{task_id}")
                await page.wait_for("document.getElementById('text').textContent.length > 20")
            # The gateway is gone mid-stream: EventSource retries until it is back.
            with http_process(["fleet.cli", "gateway"], "gateway-browser-2", "/healthz",
                              port=port):
                title = await page.wait_for(
                    "['complete', 'error'].includes(document.title) && document.title")
                text = await page.evaluate("document.getElementById('text').textContent")
                opens = await page.evaluate("document.body.dataset.opens")
        return title, text + f"\x00{opens}"

    title, both = anyio.run(main)
    text, opens = both.split("\x00")
    streamed = "".join(e["data"].get("text", "") for e in read_log(redis_client, task_id)
                       if e["type"] == "chunk")
    assert title == "complete"
    assert int(opens) >= 2  # it reconnected
    assert text == streamed and len(streamed) > 100  # every chunk once, in order
