"""``quality-gate``: a decision a pipeline can act on. When the task gives metrics and a policy
(``context.metrics``: name → number, ``context.policy``: name → ``{min}`` / ``{max}``), the
rules decide and no model is needed; a model's verdict must cite only metrics that exist."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Inputs, Result, TaskSpec

Decision = Literal["PASS", "FAIL", "WARN"]


class Bounds(Inputs):
    min: float | None = None
    max: float | None = None


class QualityGateInputs(Inputs):
    metrics: dict[str, float] | None = Field(default=None, description="name → measured value")
    policy: dict[str, Bounds] | None = Field(default=None, description=(
        "name → {min} and/or {max}: with metrics, the rules decide the gate without a model"))


class Blocking(Result):
    rule: str = Field(min_length=1, max_length=200)
    actual: float | None = None
    threshold: float | None = None


class QualityGateResult(Result):
    decision: Decision
    reasons: list[str] = Field(default_factory=list, max_length=100)
    blocking: list[Blocking] = Field(default_factory=list, max_length=100)


def _numbers(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}
    return {str(k): float(v) for k, v in value.items()
            if isinstance(v, int | float) and not isinstance(v, bool)}


def decide_by_rules(task: QETask) -> QualityGateResult | None:
    """The gate from ``context.metrics`` and ``context.policy`` alone, or None when the task
    gives no policy to apply. A metric the policy names but the task does not give fails."""
    metrics = _numbers(task.context.get("metrics"))
    policy = task.context.get("policy")
    if not isinstance(policy, dict) or not policy:
        return None
    blocking, reasons = [], []
    for name, bounds in sorted(policy.items()):
        if not isinstance(bounds, dict):
            continue
        actual = metrics.get(str(name))
        for kind, limit in sorted(_numbers(bounds).items()):
            if kind not in ("min", "max"):
                continue
            rule = f"{name} {'>=' if kind == 'min' else '<='} {limit:g}"
            if actual is None:
                blocking.append(Blocking(rule=rule, actual=None, threshold=limit))
                reasons.append(f"{name} is missing")
            elif (actual < limit) if kind == "min" else (actual > limit):
                blocking.append(Blocking(rule=rule, actual=actual, threshold=limit))
                reasons.append(f"{name} is {actual:g}, {rule} required")
            else:
                reasons.append(f"{name} {actual:g} meets {rule}")
    return QualityGateResult(decision="FAIL" if blocking else "PASS", reasons=reasons,
                             blocking=blocking)


def validate(result: QualityGateResult, task: QETask) -> list[str]:
    given = set(_numbers(task.context.get("metrics")))
    cited = {b.rule.split()[0] for b in result.blocking}
    unknown = sorted(cited - given) if given else []
    problems = [f"cites metrics the task does not give: {', '.join(unknown)}"] if unknown else []
    if result.decision == "FAIL" and not result.blocking and not result.reasons:
        problems.append("a FAIL without a reason")
    return problems


SPEC = TaskSpec(TaskType.QUALITY_GATE, QualityGateResult, validate, QualityGateInputs,
                decide_by_rules)
