"""``fleet.Client`` / ``fleet.AsyncClient`` against real workers: submit, stream, a typed
result, cancel — with the broker and Redis only (no PostgreSQL for the caller)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import anyio
import pytest

from fleet import AsyncClient, Client
from fleet.errors import InvalidTask, TaskCancelled
from fleet.qe.security_review import SecurityReviewResult
from fleet.qe.test_generation import TestGenerationResult
from tests.fixtures import MODEL_QUEUES, ROOT, WorkerProcess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(services: object) -> Iterator[None]:
    """The only worker while this module runs: answers take about 4 s, time to cancel one."""
    proc = WorkerProcess(["fleet.dispatch", *MODEL_QUEUES], "client",
                         {"FLEET_SIM_TOKENS_PER_SECOND": "100"})
    yield
    proc.stop()

TESTS = {"type": "test-generation", "description": "pytest tests for these",
         "code": "def add(a, b):\n    return a + b\n", "language": "python"}


def test_submit_stream_and_a_typed_result(worker) -> None:
    handle = Client().submit(TESTS)
    events = list(handle.stream(timeout=30))
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[0].type == "start" and events[-1].type == "complete"
    outcome = handle.result(timeout=30)  # the finished stream, read again
    assert isinstance(outcome.result, TestGenerationResult) and outcome.valid is True
    assert outcome.result.cases[0].name == "test_add_is_callable"
    assert outcome.cost_usd > 0 and outcome.model.startswith("claude-")


def test_the_async_client_iterates_and_cancels(worker) -> None:
    async def main() -> tuple[object, list[str], str, BaseException | None]:
        client = AsyncClient()
        review = await client.submit({"type": "security-review", "description": "Review.",
                                      "code": "eval(input())\n"})
        types = [event.type async for event in review]
        outcome = await review.result(timeout=30)
        slow = await client.submit({"type": "general", "description": "Write a long essay.",
                                    "max_output_tokens": 4000})
        async for event in slow:
            if event.type == "chunk":
                break
        cancelled = await slow.cancel()
        try:
            await slow.result(timeout=30)
        except TaskCancelled as exc:
            return outcome, types, cancelled, exc
        return outcome, types, cancelled, None

    outcome, types, cancelled, error = anyio.run(main)
    assert isinstance(outcome.result, SecurityReviewResult)  # type: ignore[attr-defined]
    assert types[0] == "start" and types[-1] == "complete"
    assert cancelled == "running" and isinstance(error, TaskCancelled)


def test_bad_input_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(InvalidTask, match="type"):
        Client(broker_url="redis://127.0.0.1:1/0", redis_url="redis://127.0.0.1:1/0").submit(
            {"type": "no-such-type", "description": "x"})


def test_the_client_needs_no_database(worker) -> None:
    script = textwrap.dedent("""
        import fleet
        outcome = fleet.Client().submit({"type": "quality-gate", "description": "Gate it.",
            "context": {"metrics": {"coverage": 90}, "policy": {"coverage": {"min": 80}}}}
            ).result(timeout=30)
        print(outcome.result.decision)
    """)
    env = {**os.environ, "FLEET_DATABASE_URL": "postgresql://127.0.0.1:1/nowhere"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "PASS"
