"""Fuzzing the HTTP gateway's POST /v1/tasks with generated bodies (JSON of every shape and
raw bytes): each gets 202 with a task id or an error body with a fleet error code — never a
500 and never a hung request."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.faults.test_fuzz_dispatch import outcomes, payloads, purge_accepted

CODE = re.compile(r"[A-Z]+_\d{3}")
bodies = st.one_of(payloads.map(lambda p: json.dumps(p).encode()), st.binary(max_size=300))
# Hypothesis runs are long (thousands of examples): not part of the fast inner loop.
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(services: Any) -> Iterator[TestClient]:
    import redis

    from fleet.http.gateway import create_app

    with TestClient(create_app(), raise_server_exceptions=True) as test_client:
        yield test_client
    purge_accepted(redis.Redis.from_url(services.redis_url))


def outcome(client: TestClient, body: bytes) -> str:
    """POST ``body``: "accepted" (202 with a task id) or "rejected" (a coded error body);
    anything else (a 500, a traceback) fails."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("id"), str):
        body = json.dumps(parsed | {"id": f"fz-{uuid.uuid4().hex}"}).encode()
    response = client.post("/v1/tasks", content=body)
    assert response.status_code in (202, 413, 422, 429), response.text
    if response.status_code == 202:
        assert response.json()["task_id"]
        return "accepted"
    assert CODE.fullmatch(response.json()["error"]["code"])
    return "rejected"


@settings(max_examples=10_000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_every_body_gets_a_task_id_or_a_coded_error(client: TestClient, body: bytes) -> None:
    outcome(client, body)


def test_both_outcomes_are_exercised(client: TestClient) -> None:
    """Both outcomes come up often."""
    seen = outcomes(bodies, lambda body: outcome(client, body))
    assert seen["accepted"] > 10 and seen["rejected"] > 10, seen
