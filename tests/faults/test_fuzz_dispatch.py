"""Fuzzing fleet.dispatch with generated payloads: each is either rejected with an error code or
accepted as a valid task; nothing crashes, in process or in a real worker."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.contracts import QETask, TaskType
from fleet.errors import FleetError
from tests.harness import wait_result

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)

# Mostly near-valid tasks (so the accepting path is exercised too), mutated field by field.
fields = {
    "id": st.one_of(st.text(max_size=20), st.just("x" * 200), st.integers()),
    "type": st.one_of(st.sampled_from([t.value for t in TaskType]), st.text(max_size=15)),
    "description": st.one_of(st.text(min_size=1, max_size=200), st.just(""), json_values),
    "code": st.one_of(st.none(), st.text(max_size=300), st.integers()),
    "priority": st.one_of(st.integers(-5, 15), st.text(max_size=3)),
    "max_output_tokens": st.one_of(st.integers(-10, 300_000), st.floats(allow_nan=False)),
    "preferred_model": st.one_of(st.none(), st.sampled_from(["claude-haiku-4", "gpt-9"]),
                                 st.text(max_size=10)),
    "stream": st.one_of(st.booleans(), st.text(max_size=3)),
    "context": st.one_of(st.dictionaries(st.text(max_size=8), json_values, max_size=3),
                         json_values),
    "files": st.one_of(st.lists(st.fixed_dictionaries(
        {"path": st.text(min_size=1, max_size=20), "content": st.text(max_size=100)}),
        max_size=3), json_values),
    "unexpected": json_values,
}
payloads = st.one_of(
    st.fixed_dictionaries({}, optional=fields),
    st.fixed_dictionaries({"type": st.sampled_from([t.value for t in TaskType]),
                           "description": st.text(min_size=1, max_size=100)},
                          optional={k: v for k, v in fields.items()
                                    if k not in ("type", "description")}),
    json_values,
    st.text(max_size=200),
)

# Hypothesis runs are long (thousands of examples): not part of the fast inner loop.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dispatch_task(services: Any) -> Iterator[Any]:
    """The real dispatch task, run in process; afterwards the tasks it accepted are purged so
    they neither run in later tests nor hold budget reservations."""
    import redis

    from fleet.dispatch.task import dispatch

    yield dispatch
    purge_accepted(redis.Redis.from_url(services.redis_url))


def purge_accepted(client: Any) -> None:
    for pattern in ("model.*", "{fleet:budget}*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


def outcome(dispatch_task: Any, payload: Any) -> str:
    """Dispatch ``payload``: "rejected" with a task or router error code, or "accepted" as a
    valid task with a selection (anything else fails)."""
    if isinstance(payload, dict) and isinstance(payload.get("id"), str):
        payload = payload | {"id": f"fz-{uuid.uuid4().hex}"}  # never collide with other runs
    try:
        selection = dispatch_task.run(task=payload)
    except FleetError as exc:
        assert exc.code.split("_")[0] in {"TASK", "ROUTER"}, exc
        return "rejected"
    task = QETask.model_validate(json.loads(payload) if isinstance(payload, str) else payload)
    assert selection["modelName"] and 0 <= selection["complexity"]["overall"] <= 1
    assert task.type.value
    return "accepted"


@settings(max_examples=10_000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_every_payload_is_rejected_with_a_code_or_accepted(dispatch_task, payload: Any) -> None:
    outcome(dispatch_task, payload)


def outcomes(strategy: st.SearchStrategy[Any], outcome_of: Callable[[Any], str],
             examples: int = 1000) -> Counter[str]:
    """How often each outcome comes up on a fixed sample of ``strategy`` (a coverage check
    that stands alone, not counters left by another test)."""
    seen: Counter[str] = Counter()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(value=strategy)
    def sample(value: Any) -> None:
        seen[outcome_of(value)] += 1

    sample()
    return seen


def test_both_paths_are_exercised(dispatch_task, redis_client) -> None:
    """The generator reaches both outcomes often: a fuzz run that only ever rejects proves
    little."""
    seen = outcomes(payloads, lambda payload: outcome(dispatch_task, payload))
    assert seen["accepted"] > 10 and seen["rejected"] > 100, seen
    purge_accepted(redis_client)  # before a real worker starts in this module


def test_a_real_worker_survives_a_burst_of_generated_payloads(worker, bare_client,
                                                               redis_client) -> None:
    examples: list[Any] = []

    @settings(max_examples=500, deadline=None, database=None)
    @given(payload=payloads)
    def collect(payload: Any) -> None:
        examples.append(payload)

    collect()
    sent = [bare_client.send_task("fleet.dispatch", queue="fleet.dispatch",
                                  kwargs={"task": p}) for p in examples]
    outcomes = {"SUCCESS": 0, "FAILURE": 0}
    for result in sent:
        wait_result(result, 60, propagate=False)
        outcomes[result.state] += 1
        if result.state == "FAILURE":
            message = str(result.result)
            assert message.startswith(("TASK_", "ROUTER_")), message
    assert worker.alive() and sum(outcomes.values()) == len(examples)
