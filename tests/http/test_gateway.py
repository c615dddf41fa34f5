"""The HTTP gateway as its own process (uvicorn) in front of a real worker: submit, follow the
stream as Server-Sent Events, resume with Last-Event-ID, read the result; errors carry codes
and the bearer token is enforced and never logged."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures import http_process
from tests.test_end_to_end import task_payload

pytestmark = pytest.mark.integration

TOKEN = "gw-test-token-5f1c"


@pytest.fixture(scope="module")
def gateway(services: Any) -> Iterator[tuple[httpx.Client, Path]]:
    with http_process(["fleet.cli", "gateway"], "gateway", "/healthz",
                      env={"FLEET_GATEWAY_TOKEN": TOKEN},
                      headers={"Authorization": f"Bearer {TOKEN}"}) as server:
        yield server


def read_sse(client: httpx.Client, task_id: str, last_event_id: int | None = None
             ) -> list[dict[str, Any]]:
    headers = {} if last_event_id is None else {"Last-Event-ID": str(last_event_id)}
    frames: list[dict[str, Any]] = []
    with client.stream("GET", f"/v1/tasks/{task_id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line == "":
                if "id" in fields:  # not the retry-only frame
                    frames.append({"id": int(fields["id"]), "event": fields["event"],
                                   "data": json.loads(fields["data"])})
                fields = {}
                continue
            key, _, value = line.partition(": ")
            fields[key] = value
    return frames


def test_submit_stream_resume_and_result(worker, gateway) -> None:
    client, _ = gateway
    response = client.post("/v1/tasks", json=task_payload())
    assert response.status_code == 202, response.text
    body = response.json()
    task_id = body["task_id"]
    assert body["selection"]["modelName"].startswith("claude-")
    assert body["events"] == f"/v1/tasks/{task_id}/events"

    frames = read_sse(client, task_id)
    assert [f["id"] for f in frames] == list(range(len(frames)))
    assert [f["data"]["seq"] for f in frames] == [f["id"] for f in frames]
    assert frames[0]["event"] == "start" and frames[-1]["event"] == "complete"
    assert sum(f["event"] == "chunk" for f in frames) > 3

    # A client that reconnects after event 2 gets exactly the rest.
    resumed = read_sse(client, task_id, last_event_id=2)
    assert [f["id"] for f in resumed] == [f["id"] for f in frames[3:]]

    deadline = time.monotonic() + 30
    while (result := client.get(f"/v1/tasks/{task_id}").json())["state"] != "SUCCESS":
        assert result["state"] not in ("FAILURE", "REVOKED"), result
        assert time.monotonic() < deadline, result
        time.sleep(0.1)
    streamed = "".join(f["data"]["data"]["text"] for f in frames if f["event"] == "chunk")
    assert result["result"]["text"] == streamed

    # The routing done in the gateway shows in its metrics (behind the token too).
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    model = body["selection"]["modelName"]
    assert f'fleet_selections_total{{degraded="False",model="{model}"}}' in metrics.text
    assert httpx.get(f"{client.base_url}/metrics").status_code == 401


def test_errors_carry_codes_and_the_token_is_required(gateway) -> None:
    client, log_path = gateway
    anonymous = httpx.post(f"{client.base_url}/v1/tasks", json=task_payload())
    assert anonymous.status_code == 401
    wrong = client.post("/v1/tasks", json=task_payload(), headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401

    invalid = client.post("/v1/tasks", json={"type": "no-such-type", "description": "x"})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["code"] == "TASK_001"
    assert "type" in invalid.json()["error"]["message"]

    malformed = client.post("/v1/tasks", content=b"{not json")
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (422, "TASK_001")

    huge = client.post("/v1/tasks", json=task_payload(code="x" * (2 * 1024 * 1024)))
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "TASK_002")

    unknown_model = client.post("/v1/tasks", json=task_payload(preferred_model="gpt-9"))
    assert unknown_model.status_code == 422
    assert unknown_model.json()["error"]["code"] == "ROUTER_004"

    bad_id = client.get("/v1/tasks/" + "x" * 300)
    assert (bad_id.status_code, bad_id.json()["error"]["code"]) == (422, "TASK_001")

    bad_resume = client.get("/v1/tasks/abc/events", headers={"Last-Event-ID": "seven"})
    assert (bad_resume.status_code, bad_resume.json()["error"]["code"]) == (422, "TASK_001")

    unknown = client.get("/v1/tasks/never-submitted")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "TASK_005")
    assert client.get("/v1/tasks/never-submitted/events").status_code == 404  # not a silent wait
    nowhere = client.get("/v2/nothing-here")
    assert (nowhere.status_code, nowhere.json()["error"]["code"]) == (404, "HTTP_404")

    assert TOKEN not in log_path.read_text()
