"""The fleet CLI as an operator runs it (subprocesses against the test Redis and Postgres)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.fixtures import ROOT

# The CLI as an operator runs it: against this run's Redis and PostgreSQL.
pytestmark = pytest.mark.usefixtures("services")


def fleet(*args: str, stdin: str | None = None, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fleet.cli", *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def row(table: str, first: str) -> list[str]:
    """The cells after ``first`` in the plain (piped) table ``table``."""
    [cells] = [line.split()[1:] for line in table.splitlines() if line.split()[:1] == [first]]
    return cells


def test_routing_score_prints_one_score_per_line() -> None:
    lines = [json.dumps({"prompt": "What is a mock?"}),
             json.dumps({"type": "security-review",
                         "description": "Audit the login flow for injection and timing attacks."}),
             json.dumps({"prompt": ""})]
    out = fleet("routing", "score", stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    scores = [float(x) for x in out.stdout.split()]
    assert len(scores) == 3 and all(0 <= s <= 1 for s in scores)
    assert scores[1] > scores[0]


def test_routing_score_reads_multi_turn_chats() -> None:
    """A held-out chat benchmark may give turns or messages instead of one string: the turns
    are scored as one text that keeps its lines (code stays code)."""
    code = "def kth(xs, k):\n    for i in range(len(xs)):\n        if xs[i] > k:\n" \
           "            return i\n"
    turns = ["Write a travel blog post about a beach holiday.", "Now make it shorter."]
    chat = [{"role": "user", "content": f"Find the bug:\n{code}"},
            {"role": "assistant", "content": "The loop ignores k."},
            {"role": "user", "content": [{"type": "text", "text": "Fix it and prove O(n)."}]}]
    joined = f"Find the bug:\n{code}\n\nThe loop ignores k.\n\nFix it and prove O(n)."
    lines = [json.dumps({"prompt": turns}), json.dumps({"messages": chat}),
             json.dumps({"prompt": chat}), json.dumps({"prompt": joined}),
             json.dumps({"turns": [None, ""]}), json.dumps(chat), json.dumps(joined)]
    out = fleet("routing", "score", stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    writing, messages, listed, text, empty, bare_list, bare_text = (
        float(x) for x in out.stdout.split())
    # Every shape of the same chat scores the same, a bare JSON list or string included.
    assert messages == listed == text == bare_list == bare_text
    assert messages > writing  # fixing and proving code outranks a travel post
    assert 0 <= empty <= 1


def test_routing_score_refuses_an_oversized_line() -> None:
    out = fleet("routing", "score", stdin=json.dumps({"prompt": "x" * 3_000_000}) + "\n")
    assert out.returncode == 2 and "line 1" in out.stderr and "TASK_002" in out.stderr


def test_routing_score_rejects_bad_lines_with_the_line_number() -> None:
    out = fleet("routing", "score", stdin='{"prompt": "ok"}\n{oops\n')
    assert out.returncode == 2
    assert "line 2" in out.stderr and "TASK_001" in out.stderr


def test_explain_prints_score_and_selection() -> None:
    out = fleet("routing", "explain", "examples/03-flaky-test.json")
    assert out.returncode == 0, out.stderr
    explained = json.loads(out.stdout)
    selection, score = explained["selection"], explained["score"]
    assert selection["modelName"] and selection["complexity"]["explanation"]
    assert isinstance(selection["modelConfig"]["capabilities"]["costPer1kTokens"]["input"], float)
    # Term by term: the parts add up to the blend, and the demand's terms are named.
    assert abs(sum(score["parts"].values()) - score["blend"]) < 1e-3
    assert score["overall"] == selection["complexity"]["overall"]
    assert {"length", "hard QE topics"} <= set(score["demand terms (raw, before the logistic)"])


def test_flags_set_list_and_stats(redis_client) -> None:
    try:
        assert fleet("flags", "set", "streaming", "off", "--agent-type", "gate").returncode == 0
        listed = fleet("flags", "list", "--agent-type", "gate").stdout
        assert row(listed, "streaming") == ["off"]
        assert "runtime agent=gate:streaming = off" in listed
        assert row(fleet("flags", "list").stdout, "streaming") == ["on"]
        as_json = json.loads(fleet("flags", "list", "--agent-type", "gate", "--json").stdout)
        assert as_json["flags"] == {"multiModelRouter": True, "streaming": False}
        models = json.loads(fleet("models", "list", "--json").stdout)
        assert {m["name"] for m in models["models"]} >= {"claude-haiku-4", "claude-opus-4"}
    finally:
        redis_client.delete("fleet:flags")


def test_models_disable_enable(redis_client) -> None:
    try:
        assert fleet("models", "disable", "claude-opus-4").returncode == 0
        assert row(fleet("models", "list").stdout, "claude-opus-4")[0] == "disabled"
        out = fleet("models", "disable", "nope")
        assert out.returncode == 2 and "ROUTER_004" in out.stderr
    finally:
        redis_client.delete("fleet:models")


def test_schema_and_config_check_mask_secrets() -> None:
    schema = json.loads(fleet("schema").stdout)
    assert schema["title"] == "QETask"
    out = fleet("config", "check", env={"ANTHROPIC_API_KEY": "sk-ant-very-secret"})
    assert out.returncode == 0 and "sk-ant-very-secret" not in out.stdout
    assert json.loads(out.stdout)["settings"]["anthropic_api_key"] == "**********"
    assert "config OK: 3 models enabled" in out.stderr and "warning" not in out.stderr
    keyless = fleet("config", "check", env={"ANTHROPIC_API_KEY": "", "FLEET_SIMULATE": "false"})
    assert "warning: no API key for claude-opus-4 (ANTHROPIC_API_KEY)" in keyless.stderr


def test_schema_prints_a_task_types_result_schema_or_one_clear_error() -> None:
    gate = json.loads(fleet("schema", "--result", "quality-gate").stdout)
    assert gate["title"] == "QualityGateResult"
    assert gate["properties"]["decision"]["enum"] == ["PASS", "FAIL", "WARN"]
    out = fleet("schema", "--result", "nonsense")
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "TASK_001" in out.stderr


def test_routing_stats_shows_distribution_and_latency() -> None:
    from fleet.contracts import QETask
    from fleet.dispatch.selections import flush_selections, store_selection
    from fleet.routing.router import ModelRouter
    from fleet.services import get_config

    router = ModelRouter(get_config())  # the configured models and flags
    for i, text in enumerate(["PASS or FAIL?", "Prove the scheduler never deadlocks under "
                              "concurrency and explain the race condition step by step."] * 3):
        task = QETask(id=f"stats-{i}", type="general", description=text)
        store_selection(task, router.select_model(task))
    flush_selections()
    out = fleet("routing", "stats")
    assert out.returncode == 0, out.stderr
    assert "claude-haiku-4" in out.stdout and "p99 us" in out.stdout
    assert "fallback to default (ROUTER_001)" in out.stdout
    from fleet.routing.outcomes import Try, record_outcomes
    from fleet.services import get_services

    record_outcomes(get_services().db, "stats-outcome-1", "code-review",
                    [Try("cli-cheap", False, "no JSON"), Try("cli-strong", True)])
    out = fleet("routing", "stats")
    assert row(out.stdout, "cli-cheap") == ["code-review", "1", "0.0%", "100.0%", "100.0%"]
    stats = json.loads(fleet("routing", "stats", "--json").stdout)
    assert {"first_model": "cli-cheap", "task_type": "code-review", "checked": 1,
            "first_pass": 0.0, "escalated": 1, "valid_in_end": 1} in stats["accuracy"]
    assert {s["model"] for s in stats["selections"]} >= {"claude-haiku-4"}
    assert set(stats["selections"][0]) == {"model", "tasks", "share", "avg_complexity",
                                           "degraded", "p50_us", "p99_us"}


def test_costs_and_budget_as_tables_and_as_json() -> None:
    budget = json.loads(fleet("budget", "--json").stdout)
    assert set(budget) >= {"daily", "weekly", "monthly", "reservationsInFlight", "onLimit"}
    assert set(budget["daily"]) == {"used", "limit", "percentUsed", "reserved"}
    table = fleet("budget").stdout
    assert row(table, "daily")[2] == str(budget["daily"]["limit"])
    assert "reservations in flight; at the limit: " in table
    costs = json.loads(fleet("costs", "--json").stdout)
    assert isinstance(costs["days"], list)
    report = fleet("costs", "report", "--by", "task-type").stdout
    assert report.splitlines()[0].split()[:2] == ["task-type", "requests"]
    assert "everything on the strongest model used (" in report and "saved $-" not in report


def test_submit_attaches_files_a_coverage_report_context_and_verify(tmp_path) -> None:
    from fleet.cli.tasks import _attach

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "m.py").write_text("def f():\n    return 1\n")
    (tmp_path / "coverage.json").write_text('{"files": {"src/m.py": {"missing_lines": [2]}}}')
    payload: dict = {"type": "coverage-analysis", "description": "gaps"}
    _attach(payload, (tmp_path / "src" / "m.py",), tmp_path, tmp_path / "coverage.json",
            ('metrics={"coverage": 81}', "owner=qa team"), verify=True)
    assert payload["files"] == [{"path": "src/m.py", "content": "def f():\n    return 1\n"}]
    assert payload["context"] == {"coverage": {"files": {"src/m.py": {"missing_lines": [2]}}},
                                  "metrics": {"coverage": 81}, "owner": "qa team",
                                  "verify": "run"}
    bad = fleet("submit", "--type", "general", "--description", "x", "--context", "novalue")
    assert bad.returncode == 2 and "expected KEY=JSON" in bad.stderr


def test_routing_calibrate_fits_the_ranges_to_recorded_outcomes(tmp_path) -> None:
    import math
    import random

    from fleet.routing.outcomes import Try, record_outcomes
    from fleet.services import get_services

    db, rng = get_services().db, random.Random(7)
    with db.connection() as conn:
        for i in range(400):  # haiku routed 0-0.4, passing 90 % only up to 0.28
            score = rng.uniform(0, 0.4)
            conn.execute("INSERT INTO routing_selections (task_id, model, task_type, complexity, "
                         "reason, selection) VALUES (%s, 'claude-haiku-4', 'code-review', %s, "
                         "'r', '{\"complexity\": {\"tokenCount\": 800}}')",
                         (f"cal-{i}", score))
    with db.connection() as conn:
        scores = [float(r[0]) for r in conn.execute(
            "SELECT complexity FROM routing_selections WHERE task_id LIKE 'cal-%' "
            "ORDER BY task_id").fetchall()]
    for i, score in enumerate(scores):
        passed = rng.random() < 1 / (1 + math.exp(-10 * (0.5 - score)))
        record_outcomes(db, f"cal-{i}", "code-review", [Try("claude-haiku-4", passed)])
    patch = tmp_path / "patch.yaml"
    out = fleet("routing", "calibrate", "--days", "1", "--target", "0.9", "--write", str(patch))
    assert out.returncode == 0, out.stderr
    assert "claude-haiku-4" in out.stdout and "range 0.00-0.40 -> 0.00-0." in out.stdout
    import yaml

    [haiku] = [m for m in yaml.safe_load(patch.read_text())["routing"]["models"]
               if m["name"] == "claude-haiku-4"]
    assert 0.2 < haiku["complexityRange"]["max"] < 0.36
    fitted = json.loads(fleet("routing", "calibrate", "--days", "1", "--target", "0.9",
                              "--json").stdout)
    assert fitted["changed"]["claude-haiku-4"]["to"][1] == pytest.approx(
        haiku["complexityRange"]["max"], abs=1e-3)
    assert set(fitted["expected"]) == {"now", "proposed"}
    assert fitted["expected"]["proposed"]["first_pass"] >= fitted["expected"]["now"]["first_pass"]
