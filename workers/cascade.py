"""The validated cascade: a structured result that fails its check is asked for again once,
with the check's message, then from each next stronger model of the selection in turn (one
try each); every call is billed, and the stream says so (a ``fallback`` event with ``reason:
validation_failed`` and ``restart: true``: subscribers drop the text shown so far)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fleet.config import ModelConfig
from fleet.contracts import ModelSelection, QETask
from fleet.costs.budget import Ledger
from fleet.costs.pricing import estimate
from fleet.errors import ResultInvalid, ResultParseFailed
from fleet.metrics import FALLBACKS, FIRST_PASS
from fleet.qe.prompts import Prompt, with_feedback
from fleet.qe.results import SPECS
from fleet.routing.outcomes import Try
from fleet.routing.tokens import estimate_tokens
from fleet.streaming.relay import StreamPublisher
from workers.runner import Outcome, RunFailed, Runner

log = logging.getLogger("fleet.execute")


@dataclass
class Checked:
    """The run's outcome (every call of every try) and its structured result, if any."""

    outcome: Outcome
    result: dict[str, Any] | None = None
    valid: bool | None = None  # None: the task type asks for no structured result
    problem: str = ""
    tries: list[Try] = field(default_factory=list)  # each checked answer, in order
    verification: dict[str, Any] | None = None  # the last checked answer's sandboxed run

    @property
    def tried(self) -> list[str]:
        """``"model: valid"`` or ``"model: problem"`` per try (``"rules"`` when they decided)."""
        if self.valid and not self.tries:
            return ["rules"]
        return [f"{t.model}: {'valid' if t.valid else t.problem}" for t in self.tries]


def stronger(runner: Runner, selection: ModelSelection,
             current: ModelConfig) -> ModelConfig | None:
    """The least strong model of the selection's chain that is stronger than ``current``."""
    above = [m for m in runner.chain(selection)
             if m.complexity_range.max > current.complexity_range.max]
    return min(above, key=lambda m: (m.complexity_range.max, m.name), default=None)


def extra_try_reserved(ledger: Ledger | None, task: QETask, prompt: Prompt,
                       model: ModelConfig, number: int) -> str | None:
    """Reserve the cost of one more try on ``model`` (the dispatch reserved one call only):
    None when the budget has room (or none is kept), else why not."""
    if ledger is None or not ledger.active:
        return None
    tokens = int(estimate_tokens(prompt.system + prompt.user) * 1.1) + 1
    ok, period, used = ledger.reserve(f"{task.id}:try:{number}",
                                      estimate(model, tokens, task.max_output_tokens))
    if ok:
        return None
    return f"the {period} budget has no room for a try on {model.name} (used {used})"


def run_checked(runner: Runner, task: QETask, selection: ModelSelection, prompt: Prompt,
                publisher: StreamPublisher, streaming: bool, deadline: float,
                delivered: str = "", ledger: Ledger | None = None) -> Checked:
    """``ledger``: each try after the first is reserved in it first; one the budget cannot
    hold is not made, and the best answer so far is returned, marked invalid."""
    spec = SPECS.get(task.type)
    ruled = spec.decided(task) if spec is not None else None
    if ruled is not None:  # the rules decide: no model is called, nothing is billed
        result = ruled.model_dump(mode="json")
        return Checked(Outcome(text=json.dumps(result), model=selection.model_config_),
                       result=result, valid=True)
    outcome = runner.run(task, selection, prompt, publisher, streaming, deadline, delivered)
    if spec is None:
        return Checked(outcome)
    checked = Checked(outcome)
    first_pass = True
    retried = False
    while True:
        try:
            result = spec.check(checked.outcome.text, task)
            verification = spec.executed(result, task, runner.config.qe)
            checked.verification = verification.to_dict() if verification else None
            if verification is not None and verification.problem:
                raise ResultInvalid(verification.problem)
        except (ResultParseFailed, ResultInvalid) as exc:
            problem = exc.message
            if first_pass:
                FIRST_PASS.labels(outcome.model.name, task.type.value, "false").inc()
        else:
            if first_pass:
                FIRST_PASS.labels(outcome.model.name, task.type.value, "true").inc()
            checked.tries.append(Try(checked.outcome.model.name, True))
            checked.result = result.model_dump(mode="json")
            checked.valid, checked.problem = True, ""
            return checked
        first_pass = False
        current = checked.outcome.model
        checked.tries.append(Try(current.name, False, problem))
        checked.valid, checked.problem = False, problem
        target = current if not retried else stronger(runner, selection, current)
        if target is None:  # nothing stronger: the best answer, marked invalid
            log.warning("task %s: no valid result (%s)", task.id, problem)
            return checked
        retried = True  # one retry per task, on the first model; stronger ones get one try
        extra = len(checked.tries)
        refused = extra_try_reserved(ledger, task, prompt, target, extra)
        if refused is not None:
            log.warning("task %s: %s; its answer stays invalid", task.id, refused)
            checked.problem = f"{problem}; {refused}"
            return checked
        FALLBACKS.labels(current.name).inc()
        publisher.emit("fallback", {"from": current.name, "to": target.name,
                                    "reason": "validation_failed", "detail": problem[:500],
                                    "restart": True, "continued_after_chars": 0})
        only = selection.model_copy(update={"model_name": target.name,
                                            "model_config_": target, "fallback_models": []})
        try:
            again = runner.run(task, only, with_feedback(prompt, problem), publisher,
                               streaming, deadline)
        except RunFailed as failed:  # every call so far is paid for
            raise RunFailed(failed.error, checked.outcome.calls + failed.calls,
                            checked.outcome.failed + failed.failed) from failed.error
        finally:  # its spend is settled with the attempt's; the room held for it is released
            if ledger is not None and ledger.active:
                ledger.release(f"{task.id}:try:{extra}")
        again.calls = checked.outcome.calls + again.calls
        again.failed = checked.outcome.failed + again.failed
        checked.outcome = again
