"""The seed's Appendix C, in one scrape each: a worker's own port after traffic (routing, cost,
streaming, performance metrics all moved) and the gateway's scrape-time metrics (queue depth
counting every priority list, budget used, savings)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fixtures import MODEL_QUEUES, WorkerProcess, http_process
from tests.harness import free_port, wait_result
from tests.test_end_to_end import task_payload

pytestmark = pytest.mark.integration


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value, from the Prometheus text format."""
    out = {}
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            out[match.group(1)] = float(match.group(2))
    return out


def total(found: dict[str, float], name: str, **labels: str) -> float:
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in found.items()
               if (k == name or k.startswith(name + "{")) and all(w in k for w in want))


@pytest.fixture(scope="module")
def metered_worker(services: Any) -> Iterator[int]:
    """A worker (no beat queue: the test fills it) serving its metrics on a port."""
    port = free_port()
    proc = WorkerProcess(["fleet.dispatch", *MODEL_QUEUES], "metrics",
                         {"FLEET_METRICS_PORT": str(port)})
    yield port
    proc.stop()


def test_a_workers_scrape_covers_routing_cost_and_streams(metered_worker, bare_client) -> None:
    for _ in range(3):
        payload = task_payload()
        wait_result(bare_client.send_task("fleet.dispatch", kwargs={"task": payload},
                                          queue="fleet.dispatch"), 30)
        wait_result(bare_client.AsyncResult(payload["id"]), 30)
    found = samples(httpx.get(f"http://127.0.0.1:{metered_worker}/metrics").text)
    moved = ["fleet_selections_total", "fleet_selection_seconds_count", "fleet_cost_usd_total",
             "fleet_tokens_total", "fleet_streams_total", "fleet_stream_first_chunk_seconds_count",
             "fleet_stream_duration_seconds_count", "fleet_stream_chunks_sum",
             "fleet_stream_buffer_peak_ratio_count"]
    assert {name: total(found, name) for name in moved if total(found, name) <= 0} == {}
    assert total(found, "fleet_stream_chunks_sum") >= 3 * 3  # many chunks per stream
    assert total(found, "fleet_stream_chunks_count") == 3
    assert "fleet_streams_in_flight" in {k.split("{")[0] for k in found}
    assert total(found, "fleet_streams_in_flight") == 0  # all ended
    assert total(found, "process_resident_memory_bytes") > 0  # memory, per process


def test_the_gateway_reads_queue_depths_budget_and_savings_at_scrape_time(
        metered_worker, bare_client, redis_client) -> None:
    for priority in (0, 9):  # two of kombu's priority lists of the same queue
        bare_client.send_task("fleet.beat.cleanup", queue="fleet.beat", priority=priority,
                              task_id=f"depth-{uuid.uuid4().hex[:8]}")
    try:
        with http_process(["fleet.cli", "gateway"], "gateway-metrics", "/healthz") as (client,
                                                                                      _):
            found = samples(client.get("/metrics").text)
    finally:
        for key in redis_client.scan_iter("fleet.beat*"):
            redis_client.delete(key)
    assert total(found, "fleet_queue_depth", queue="fleet.beat", state="ready") == 2
    assert 'fleet_queue_depth{queue="model.claude-haiku-4",state="unacked"}' in found
    assert 0 < total(found, "fleet_budget_used_ratio", period="daily") < 1
    assert 'fleet_savings_usd{period="day"}' in found
