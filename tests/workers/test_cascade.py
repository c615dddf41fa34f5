"""The validated cascade in process (MockProviders, an in-memory relay): an answer that fails
its check is asked for again with the check's message, then from the next stronger model;
every call is paid for and the stream tells subscribers to restart."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY

from fleet.config import BudgetLimits, CostTracking
from fleet.contracts import QETask, TokenUsage
from fleet.costs.budget.stub import StubLedger
from fleet.qe.prompts import build_prompt
from fleet.routing.registry import ModelRegistry
from fleet.routing.router import ModelRouter
from fleet.streaming.relay import StreamPublisher
from tests.workers.test_runner import CONFIG, OpenBreaker, RecordingRelay
from workers.cascade import run_checked
from workers.providers import CompletionRequest, MockProvider, TextDelta
from workers.providers.simulated import SimulatedProvider
from workers.runner import Runner

VERDICT = json.dumps({"decision": "PASS", "reasons": ["all green"], "blocking": []})


def reply(text: str) -> Any:
    def handler(request: CompletionRequest) -> Any:
        yield TextDelta(text)
        yield TokenUsage(input_tokens=10, output_tokens=5)

    return handler


def run(answers: dict[str, str], ledger: Any = None
        ) -> tuple[Any, RecordingRelay, dict[str, MockProvider]]:
    task = QETask(id="gate-1", type="quality-gate", description="Gate this release.",
                  preferred_model="claude-haiku-4")
    registry = ModelRegistry.from_config(CONFIG)
    selection = ModelRouter(CONFIG, registry).select_model(task)
    assert selection.model_name == "claude-haiku-4"
    mocks = {name: MockProvider(reply(text)) for name, text in answers.items()}
    relay = RecordingRelay()
    runner = Runner(CONFIG, registry, OpenBreaker(),  # type: ignore[arg-type]
                    lambda model: mocks[model.name])
    publisher = StreamPublisher(task.id, selection.model_name, relay,  # type: ignore[arg-type]
                                log_read=True)
    checked = run_checked(runner, task, selection, build_prompt(task), publisher, True,
                          deadline=time.monotonic() + 30, ledger=ledger)
    return checked, relay, mocks


def first_pass(valid: str) -> float:
    """fleet_routing_first_pass_total for haiku's quality gates in this process."""
    return REGISTRY.get_sample_value("fleet_routing_first_pass_total", {
        "model": "claude-haiku-4", "task_type": "quality-gate", "valid": valid}) or 0.0


def test_a_valid_first_answer_is_the_result() -> None:
    before = first_pass("true")
    checked, relay, _ = run({"claude-haiku-4": f"Here you go:\n```json\n{VERDICT}\n```"})
    assert first_pass("true") == before + 1
    assert checked.valid and checked.result["decision"] == "PASS"
    assert checked.tried == ["claude-haiku-4: valid"]
    assert [e["type"] for e in relay.events] == ["chunk"]


def test_an_invalid_answer_is_retried_then_escalated_to_a_stronger_model() -> None:
    before = first_pass("false"), first_pass("true")
    checked, relay, mocks = run({"claude-haiku-4": "Looks fine to me.",
                                 "claude-sonnet-4.5": VERDICT, "claude-opus-4": VERDICT})
    # Routing accuracy counts the first model's answer only, not the retries' and escalations'.
    assert (first_pass("false"), first_pass("true")) == (before[0] + 1, before[1])
    assert checked.valid and checked.outcome.model.name == "claude-sonnet-4.5"
    assert [c.model.name for c in checked.outcome.calls] == [
        "claude-haiku-4", "claude-haiku-4", "claude-sonnet-4.5"]  # all three are billed
    retry = mocks["claude-haiku-4"].requests[1]
    assert "Your previous answer was not valid: no JSON object" in retry.prompt
    fallbacks = [e["data"] for e in relay.events if e["type"] == "fallback"]
    assert [(f["from"], f["to"], f["reason"], f["restart"]) for f in fallbacks] == [
        ("claude-haiku-4", "claude-haiku-4", "validation_failed", True),
        ("claude-haiku-4", "claude-sonnet-4.5", "validation_failed", True)]
    assert [e["seq"] for e in relay.events] == list(range(len(relay.events)))
    assert mocks["claude-opus-4"].requests == []


def test_when_no_stronger_model_answers_validly_the_best_answer_is_marked_invalid() -> None:
    checked, _, _ = run({name: '{"decision": "MAYBE"}' for name in
                         ("claude-haiku-4", "claude-sonnet-4.5", "claude-opus-4")})
    assert checked.valid is False and "decision" in checked.problem
    assert checked.outcome.model.name == "claude-opus-4" and checked.result is None
    assert len(checked.outcome.calls) == 4  # haiku twice, then sonnet, then opus


def test_an_escalation_the_budget_cannot_hold_is_not_made() -> None:
    """Each extra try is reserved first: here the budget holds the retry on haiku but not a
    try on sonnet, so the task ends with haiku's answer marked invalid, and no room is held."""
    ledger = StubLedger(CostTracking(enabled=True,
                                     budget_limits=BudgetLimits(daily=Decimal("0.02"))))
    checked, _, mocks = run({"claude-haiku-4": "Looks fine to me.",
                             "claude-sonnet-4.5": VERDICT}, ledger)
    assert checked.valid is False and "budget has no room for a try on claude-sonnet-4.5" \
        in checked.problem
    assert [c.model.name for c in checked.outcome.calls] == ["claude-haiku-4"] * 2
    assert mocks["claude-sonnet-4.5"].requests == []
    assert ledger.reservations == {}  # the retry's room was released after it


def test_the_simulated_provider_answers_each_type_with_a_valid_result() -> None:
    from fleet.qe.results import SPECS
    from tests.qe.samples import SAMPLES

    simulated = SimulatedProvider(ttft_ms=(0, 0), tokens_per_second=(0, 0))
    model = CONFIG.routing.models[0]
    for task in SAMPLES.values():
        prompt = build_prompt(task)
        text = "".join(item.text for item in simulated.stream(CompletionRequest(
            task_id=task.id, model=model, system=prompt.system, prompt=prompt.user,
            max_output_tokens=2000, result_type=prompt.result_type))
            if isinstance(item, TextDelta))
        assert SPECS[task.type].check(text, task), task.type


def test_a_gate_the_rules_decide_calls_no_model() -> None:
    task = QETask(id="gate-rules", type="quality-gate", description="Gate it.",
                  context={"metrics": {"coverage": 91.0}, "policy": {"coverage": {"min": 80}}})
    registry = ModelRegistry.from_config(CONFIG)
    selection = ModelRouter(CONFIG, registry).select_model(task)
    never = MockProvider(reply(VERDICT))
    relay = RecordingRelay()
    runner = Runner(CONFIG, registry, OpenBreaker(),  # type: ignore[arg-type]
                    lambda model: never)
    checked = run_checked(runner, task, selection, build_prompt(task),
                          StreamPublisher(task.id, selection.model_name, relay,  # type: ignore[arg-type]
                                          log_read=True),
                          True, deadline=time.monotonic() + 30)
    assert checked.valid and checked.result["decision"] == "PASS" and checked.tried == ["rules"]
    assert never.requests == [] and checked.outcome.calls == [] and relay.events == []
