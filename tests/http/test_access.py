"""Scoped tokens (the seed's §11.4 access levels) on every route: 401 without a valid token, 403
outside its scopes, a submitter reads only its own tasks, costs are reported per token name,
admin steers flags and models, a token over its rate is told when to come back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fleet.errors import ConfigError
from fleet.http.auth import parse_tokens
from tests.fixtures import http_process
from tests.test_end_to_end import task_payload

TOKENS = {"alice": "alice-token-1a", "bob": "bob-token-22b", "ro": "reader-token-3c",
          "ops": "admin-token-4d"}
SCOPES = {"alice": "submit", "bob": "submit", "ro": "read", "ops": "admin"}


def test_tokens_parse_with_their_scopes_and_a_bad_entry_is_named_not_shown() -> None:
    tokens = parse_tokens("alice:alice-token-1a:submit+read, bare-token-xyz", "gw-token")
    assert [(t.name, sorted(t.scopes)) for t in tokens] == [
        ("gateway", ["admin", "read", "submit"]), ("alice", ["read", "submit"]),
        ("token-2", ["admin", "read", "submit"])]
    assert "alice-token-1a" not in repr(tokens)  # SecretStr
    for bad in ("alice:short:submit", "alice:alice-token-1a:root", "a:secret-token-q:c:d"):
        with pytest.raises(ConfigError, match="entry 1") as info:
            parse_tokens(bad)
        assert bad.split(":")[1] not in str(info.value)


@pytest.fixture(scope="module")
def gateway(services: Any) -> Iterator[tuple[httpx.Client, Path]]:
    tokens = ",".join(f"{name}:{token}:{SCOPES[name]}" for name, token in TOKENS.items())
    with http_process(["fleet.cli", "gateway"], "gateway-access", "/healthz",
                      env={"FLEET_API_TOKENS": tokens}) as server:
        yield server


def as_(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.mark.integration
def test_a_submitter_reads_its_own_tasks_only_and_its_costs_carry_its_name(
        worker, gateway, pg) -> None:
    client, log_path = gateway
    assert client.post("/v1/tasks", json=task_payload()).status_code == 401
    submitted = client.post("/v1/tasks", json=task_payload() | {"agent_id": "someone-else"},
                            headers=as_("alice"))
    assert submitted.status_code == 202, submitted.text
    task_id = submitted.json()["task_id"]
    with client.stream("GET", f"/v1/tasks/{task_id}/events", headers=as_("alice")) as events:
        assert events.status_code == 200 and "event: complete" in "".join(events.iter_text())
    assert client.get(f"/v1/tasks/{task_id}", headers=as_("alice")).status_code == 200
    assert client.get(f"/v1/tasks/{task_id}", headers=as_("ro")).status_code == 200
    denied = client.get(f"/v1/tasks/{task_id}/events", headers=as_("bob"))
    assert (denied.status_code, denied.json()["error"]["code"]) == (403, "AUTH_002")
    assert client.post(f"/v1/tasks/{task_id}/cancel", headers=as_("bob")).status_code == 403
    assert client.post(f"/v1/tasks/{task_id}/cancel", headers=as_("alice")).json()[
        "outcome"] == "finished"
    assert client.post("/v1/tasks", json=task_payload(), headers=as_("ro")).status_code == 403
    assert pg.execute("SELECT agent_id FROM cost_entries WHERE task_id = %s",
                      (task_id,)).fetchone()[0] == "alice"
    assert client.get("/v1/costs", headers=as_("alice")).status_code == 403
    report = client.get("/v1/costs?period=day&by=agent", headers=as_("ro")).json()
    assert "alice" in {g["agent"] for g in report["groups"]}
    assert not any(token in log_path.read_text() for token in TOKENS.values())


@pytest.mark.integration
def test_admin_steers_flags_and_models_and_readers_only_look(gateway) -> None:
    client, _ = gateway
    assert client.get("/v1/budget", headers=as_("ro")).json()["onLimit"]
    change = {"flag": "streaming", "state": "off", "agent_type": "access-test"}
    assert client.put("/v1/flags", json=change, headers=as_("ro")).status_code == 403
    changed = client.put("/v1/flags", json=change, headers=as_("ops")).json()
    assert changed["flags"]["streaming"] is False
    client.put("/v1/flags", json=change | {"state": "default"}, headers=as_("ops"))
    assert client.get("/v1/flags?agent_type=access-test", headers=as_("ro")).json()[
        "flags"]["streaming"] is True
    bad = client.put("/v1/flags", json={"flag": "teleport", "state": "on"}, headers=as_("ops"))
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "TASK_001")
    assert client.post("/v1/models/claude-opus-4/disable", headers=as_("ro")).status_code == 403
    assert client.post("/v1/models/claude-opus-4/disable", headers=as_("ops")).json() == {
        "model": "claude-opus-4", "enabled": False}
    assert "claude-opus-4" not in {m["id"] for m in client.get(
        "/v1/models", headers=as_("alice")).json()["data"]}
    client.post("/v1/models/claude-opus-4/enable", headers=as_("ops"))
    unknown = client.post("/v1/models/gpt-9/enable", headers=as_("ops"))
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "ROUTER_004")
    document = client.get("/openapi.json").json()  # open: it holds no secret
    assert document["paths"]["/v1/flags"]["put"]["x-fleet-access"] == "admin"
    assert "requestBody" in document["paths"]["/v1/chat/completions"]["post"]


@pytest.mark.integration
def test_a_token_over_its_rate_is_told_when_to_come_back(services) -> None:
    with http_process(["fleet.cli", "gateway"], "gateway-rate", "/healthz",
                      env={"FLEET_API_TOKENS": "quick:quick-token-9z:read",
                           "FLEET_RATE_LIMIT_PER_MINUTE": "3"}) as (client, _):
        headers = {"Authorization": "Bearer quick-token-9z"}
        while int(time.time()) % 60 > 55:  # all four in one minute's window
            time.sleep(0.5)
        codes = [client.get("/v1/budget", headers=headers).status_code for _ in range(4)]
        refused = client.get("/v1/budget", headers=headers)
    assert codes == [200, 200, 200, 429] and refused.json()["error"]["code"] == "AUTH_003"
    assert 0 < int(refused.headers["retry-after"]) <= 60
