"""Real providers' wire formats and every fault, end to end: the fake provider server, a real
worker process running the real SDKs, and a real subscriber."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from fleet.backends import keys
from fleet.contracts import StreamEvent
from fleet.streaming.subscribe import subscribe
from tests.fake_provider import FakeProvider
from tests.fixtures import ROOT, WorkerProcess
from tests.harness import wait_result

pytestmark = pytest.mark.integration

EXPECTED = "".join(("" if i == 0 else " ") + f"w{i}" for i in range(30))
FAKE_QUEUES = ["model.fake-primary", "model.fake-backup", "model.fake-gemini"]
KEYS = {"ANTHROPIC_API_KEY": "sk-ant-test-secret", "OPENAI_API_KEY": "sk-openai-test-secret",
        "GOOGLE_API_KEY": "google-test-secret"}


def fake_model(name: str, provider: str, endpoint: str, price: int) -> dict[str, Any]:
    return {"name": name, "provider": provider, "model": name,
            "capabilities": {"maxTokens": 100000, "supportsStreaming": True,
                             "costPer1mTokens": {"input": price, "output": 5 * price}},
            "complexityRange": {"min": 0, "max": 1}, "credentials": {"endpoint": endpoint}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture(scope="module")
def fake_config(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = {
        "fleet": {"taskTimeout": 30},
        "features": {"multiModelRouter": True, "streaming": True},
        "routing": {"enabled": True, "defaultModel": "fake-primary", "models": [
            fake_model("fake-primary", "anthropic", fake.url, 1),
            fake_model("fake-backup", "openai", f"{fake.url}/v1", 2),
            fake_model("fake-gemini", "google", f"{fake.url}/v1beta/openai/", 3)]},
        "streaming": {"enabled": True, "timeoutMs": 800, "flushMs": 5,
                      "retryConfig": {"maxRetries": 2, "backoffMs": 50, "backoffMultiplier": 2},
                      "circuitBreaker": {"failureThreshold": 5, "cooldownMs": 1500}},
    }
    path = tmp_path_factory.mktemp("fake") / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def fake_worker(services: Any, fake_config: Path) -> Iterator[WorkerProcess]:
    env = {"FLEET_CONFIG": str(fake_config), "FLEET_SIMULATE": "false", **KEYS}
    proc = WorkerProcess(["fleet.dispatch", *FAKE_QUEUES], "fake", env=env, concurrency=16)
    yield proc
    proc.stop()


@pytest.fixture(autouse=True)
def closed_breakers(redis_client: Any) -> None:
    for key in redis_client.scan_iter("*fleet:breaker*"):
        redis_client.delete(key)


def run_task(bare_client: Any, faults: str = "", **fields: Any
             ) -> tuple[str, list[StreamEvent], dict[str, Any]]:
    task_id = f"f-{uuid.uuid4().hex[:12]}"
    payload = {"id": task_id, "type": "general",  # free text: the faults are the point
               "description": f"[[task:{task_id}]] {faults} Write tests.",
               "max_output_tokens": 200} | fields
    bare_client.send_task("fleet.dispatch", kwargs={"task": payload}, queue="fleet.dispatch")
    events = list(subscribe(redis.Redis.from_url(os.environ["FLEET_REDIS_URL"]), task_id,
                            timeout=30))
    result = bare_client.AsyncResult(task_id)
    wait_result(result, 30, propagate=False)
    return task_id, events, (result.result if isinstance(result.result, dict) else
                             {"error": str(result.result)})


def streamed_text(events: list[StreamEvent]) -> str:
    return "".join(e.data["text"] for e in events if e.type == "chunk")


def assert_coherent(events: list[StreamEvent]) -> None:
    assert [e.seq for e in events] == list(range(len(events)))
    assert events[0].type == "start"
    assert [e.type for e in events].count("complete") + [e.type for e in events].count(
        "error") == 1 and events[-1].final


def calls_of(fake: FakeProvider, model: str, since: int) -> list[dict[str, Any]]:
    return [r for r in fake.requests[since:] if r["model"] == model]


def test_anthropic_stream_end_to_end(fake_worker, bare_client, fake, pg) -> None:
    task_id, events, result = run_task(bare_client)
    assert_coherent(events)
    assert streamed_text(events) == EXPECTED and result["text"] == EXPECTED
    assert len([e for e in events if e.type == "chunk"]) > 1
    row = pg.execute("SELECT model, provider, input_tokens, output_tokens, cached_tokens, "
                     "estimated FROM cost_entries WHERE task_id = %s", (task_id,)).fetchall()
    assert len(row) == 1
    model, provider, tin, tout, cached, estimated = row[0]
    assert (model, provider, tout, cached, estimated) == ("fake-primary", "anthropic", 30, 2,
                                                          False)
    assert tin > 0


def test_rate_limit_is_retried_after_retry_after(fake_worker, bare_client, fake, pg) -> None:
    since = len(fake.requests)
    started = time.monotonic()
    task_id, events, result = run_task(bare_client,
                                       "[[fake-primary:fault=429&retry_after=1]]")
    assert time.monotonic() - started >= 1.0
    assert_coherent(events)
    assert result["model"] == "fake-primary" and streamed_text(events) == EXPECTED
    assert len(calls_of(fake, "fake-primary", since)) == 2
    assert not [e for e in events if e.type == "fallback"]
    # The refused call is counted, not billed: one cost row, the call that answered.
    assert result["failed_calls"] == [{"model": "fake-primary", "reason": "429"}]
    rows = pg.execute("SELECT segment, estimated FROM cost_entries WHERE task_id = %s",
                      (task_id,)).fetchall()
    assert rows == [(0, False)]


@pytest.mark.parametrize("status", ["500", "529"])
def test_failure_before_first_chunk_falls_back(fake_worker, bare_client, fake,
                                               status: str) -> None:
    since = len(fake.requests)
    _, events, result = run_task(bare_client, f"[[fake-primary:fault={status}&times=9]]")
    assert_coherent(events)
    fallback = [e for e in events if e.type == "fallback"]
    assert len(fallback) == 1 and fallback[0].data["to"] == "fake-backup"
    assert fallback[0].data["continued_after_chars"] == 0
    assert result["model"] == "fake-backup" and streamed_text(events) == EXPECTED
    assert len(calls_of(fake, "fake-primary", since)) == 3  # one call and two retries


@pytest.mark.parametrize("fault", ["reset&after=10", "malformed&after=10",
                                   "stall&after=10&stall=3"])
def test_mid_stream_failure_continues_on_the_fallback(fake_worker, bare_client, fake, pg,
                                                      fault: str) -> None:
    since = len(fake.requests)
    task_id, events, result = run_task(bare_client, f"[[fake-primary:fault={fault}]]")
    assert_coherent(events)
    kinds = [e.type for e in events]
    fallback_at = kinds.index("fallback")
    before = "".join(e.data["text"] for e in events[:fallback_at] if e.type == "chunk")
    assert before == EXPECTED[:EXPECTED.index(" w10")]
    assert events[fallback_at].data["continued_after_chars"] == len(before)
    # Subscribers see the continuation: the whole text once, no restart, no duplicate.
    assert streamed_text(events) == EXPECTED and result["text"] == EXPECTED
    backup = calls_of(fake, "fake-backup", since)
    assert backup[0]["continuation"] == before
    rows = pg.execute("SELECT segment, model FROM cost_entries WHERE task_id = %s "
                      "ORDER BY segment", (task_id,)).fetchall()
    assert rows == [(0, "fake-primary"), (1, "fake-backup")]  # both calls are paid for


def test_stream_that_keeps_timing_out_is_retried_synchronously(fake_worker, bare_client,
                                                               fake) -> None:
    since = len(fake.requests)
    _, events, result = run_task(bare_client,
                                 "[[fake-primary:fault=stall&after=0&stall=2&times=3]]")
    assert_coherent(events)
    primary = calls_of(fake, "fake-primary", since)
    assert [r["stream"] for r in primary] == [True, True, True, False]  # STREAM_002
    assert result["model"] == "fake-primary" and streamed_text(events) == EXPECTED


def test_missing_usage_is_estimated_and_marked(fake_worker, bare_client, pg) -> None:
    task_id, events, _ = run_task(bare_client, "[[fake-primary:fault=nousage]]")
    assert_coherent(events)
    estimated, tout = pg.execute("SELECT estimated, output_tokens FROM cost_entries "
                                 "WHERE task_id = %s", (task_id,)).fetchone()
    assert estimated is True and tout > 0


def test_every_model_failing_ends_with_one_clear_error(fake_worker, bare_client, pg) -> None:
    faults = " ".join(f"[[{m}:fault=500&times=99]]" for m in
                      ("fake-primary", "fake-backup", "fake-gemini"))
    task_id, events, result = run_task(bare_client, faults)
    assert_coherent(events)
    assert events[-1].type == "error" and events[-1].data["code"] == "PROVIDER_001"
    assert "HTTP 500" in events[-1].data["message"]
    assert "PROVIDER_001" in result["error"]
    # Every call was refused before any output: nothing is billed, each is counted.
    assert {f["reason"] for f in events[-1].data["failed_calls"]} == {"500"}
    assert pg.execute("SELECT count(*) FROM cost_entries WHERE task_id = %s",
                      (task_id,)).fetchone()[0] == 0


def test_circuit_opens_and_router_skips_the_model(fake_worker, bare_client, redis_client,
                                                  fake) -> None:
    # Two tasks x three calls: five consecutive failures open fake-primary's breaker.
    for _ in range(2):
        run_task(bare_client, "[[fake-primary:fault=500&times=9]]")
    assert redis_client.hget(keys.BREAKERS, "fake-primary") is not None
    time.sleep(0.6)  # the dispatcher's view refreshes every 0.5 s
    since = len(fake.requests)
    _, _, result = run_task(bare_client)
    assert result["model"] == "fake-backup" and not calls_of(fake, "fake-primary", since)
    time.sleep(1.6)  # cooldown over: half-open, one probe closes it again
    _, _, result = run_task(bare_client)
    assert result["model"] == "fake-primary"
    assert redis_client.hget(keys.BREAKERS, "fake-primary") is None


def test_late_subscriber_and_resume_after_seq(fake_worker, bare_client, redis_client) -> None:
    task_id, events, _ = run_task(bare_client, "[[fake-primary:words=300&delay_ms=1]]",
                                  max_output_tokens=400)
    late = list(subscribe(redis_client, task_id, timeout=5))
    assert [e.model_dump() for e in late] == [e.model_dump() for e in events]
    assert len(events) > 8
    resumed = list(subscribe(redis_client, task_id, after_seq=4, timeout=5))
    assert [e.seq for e in resumed] == list(range(5, len(events)))
    assert list(subscribe(redis_client, task_id, after_seq=len(events) + 3, timeout=5)) == []


def test_live_and_slow_subscribers_see_every_event_once(fake_worker, bare_client,
                                                        redis_client) -> None:
    task_id = f"live-{uuid.uuid4().hex[:10]}"
    got: dict[str, list[int]] = {"live": [], "slow": []}

    def follow(name: str, pause: float) -> None:
        for event in subscribe(redis_client, task_id, timeout=30):
            got[name].append(event.seq)
            time.sleep(pause)

    threads = [threading.Thread(target=follow, args=("live", 0)),
               threading.Thread(target=follow, args=("slow", 0.02))]
    for t in threads:
        t.start()
    time.sleep(0.3)
    payload = {"id": task_id, "type": "general", "max_output_tokens": 500,
               "description": f"[[task:{task_id}]] [[fake-primary:words=200&delay_ms=2]] Go."}
    bare_client.send_task("fleet.dispatch", kwargs={"task": payload}, queue="fleet.dispatch")
    for t in threads:
        t.join(40)
    assert got["live"] == got["slow"] == list(range(len(got["live"])))
    assert len(got["live"]) > 10


def test_worker_refuses_to_start_without_its_models_key(fake_config: Path) -> None:
    env = {**os.environ, "FLEET_CONFIG": str(fake_config), "FLEET_SIMULATE": "false",
           **KEYS}
    env.pop("ANTHROPIC_API_KEY")
    proc = subprocess.run([sys.executable, "-m", "celery", "-A", "fleet.app", "worker", "-Q",
                           "model.fake-primary", "-P", "threads", "--without-mingle",
                           "--without-gossip"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "ANTHROPIC_API_KEY" in out and "fake-primary" in out
    assert not any(secret in out for secret in KEYS.values())


def test_overall_task_deadline_ends_a_slow_stream_with_task_003(fake, redis_client,
                                                               fleet) -> None:
    """In process (real SDK, real Redis): a stream still going at the deadline is cut off."""
    from fleet.config import load_config
    from fleet.contracts import ModelSelection, QETask
    from fleet.qe.prompts import Prompt
    from fleet.routing.breaker import CircuitBreaker
    from fleet.routing.registry import ModelRegistry
    from fleet.routing.router import ModelRouter
    from fleet.streaming.relay import StreamPublisher
    from workers.runner import RunFailed, Runner

    config = load_config(environ={"FLEET_TASK_TIMEOUT": "1",
                                  "FEATURE_MULTI_MODEL_ROUTER": "true",
                                  "FEATURE_STREAMING": "true"})
    from workers.providers.anthropic_provider import AnthropicProvider

    model = config.routing.model("claude-haiku-4").model_copy(update={"model": "slow"})
    task = QETask(id=f"deadline-{uuid.uuid4().hex[:8]}", type="general",
                  description="[[slow:words=500&delay_ms=20]] go")
    registry = ModelRegistry([model], redis_client)
    selection = ModelSelection(model_name=model.name, model_config_=model,
                               complexity=ModelRouter(config, registry).analyzer.analyze(task),
                               reason="test")
    runner = Runner(config, registry, CircuitBreaker(redis_client, fleet.scripts["breaker"]),
                    lambda m: AnthropicProvider(m, "k", fake.url, 5.0))
    publisher = StreamPublisher(task.id, model.name, fleet.relay)
    started = time.monotonic()
    with pytest.raises(RunFailed) as info:
        runner.run(task, selection, Prompt("sys", task.description), publisher, True,
                   deadline=started + 1)
    assert info.value.error.code == "TASK_003"
    assert 1 <= time.monotonic() - started < 3
    assert publisher.chunks > 0
