"""The stream engine in a real worker: many streams of one process read on one event loop,
each complete, gap-free and equal to its result, every call billed once."""

from __future__ import annotations

import uuid

import pytest

from fleet.contracts import QETask
from fleet.dispatch.route import submit
from fleet.streaming.subscribe import read_log
from tests.fixtures import WorkerProcess
from tests.harness import wait_result

pytestmark = pytest.mark.integration

ENGINE = {"STREAMING_ENGINE": "asyncio", "FLEET_SIM_TTFT_MS": "50-300",
          "FLEET_SIM_TOKENS_PER_SECOND": "100-400", "FLEET_SIM_OUTPUT_TOKENS": "50-200"}


def test_many_streams_of_one_process_on_one_loop(fleet, redis_client, pg) -> None:
    from fleet.app import app

    worker = WorkerProcess(["model.claude-haiku-4"], "engine", ENGINE, concurrency=64)
    tasks = [QETask(id=f"engine-{uuid.uuid4().hex[:10]}", type="general",
                    description=f"Explain case {i}.", preferred_model="claude-haiku-4",
                    max_output_tokens=400) for i in range(48)]
    try:
        for task in tasks:
            submit(task)
        results = [wait_result(app.AsyncResult(task.id), 60) for task in tasks]
    finally:
        worker.stop()
    spans = []
    for task, result in zip(tasks, results, strict=True):
        events = read_log(redis_client, task.id)
        assert [e["seq"] for e in events] == list(range(len(events)))
        assert events[0]["type"] == "start" and events[-1]["type"] == "complete"
        chunks = [e["data"]["text"] for e in events if e["type"] == "chunk"]
        assert len(chunks) > 3 and "".join(chunks) == result["text"]
        assert 50 <= result["usage"]["output_tokens"] <= 200
        spans.append((events[0]["ts"], events[-1]["ts"]))
    # Read side by side on the one loop, not one after another.
    most = max(sum(start <= t < end for start, end in spans) for t, _ in spans)
    assert most >= 24, most
    billed = pg.execute("SELECT count(*), count(DISTINCT task_id) FROM cost_entries "
                        "WHERE task_id LIKE 'engine-%'").fetchone()
    assert billed == (48, 48)
