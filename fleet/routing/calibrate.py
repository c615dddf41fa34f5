"""Calibrating the models' complexity ranges from the fleet's own outcomes: for each model, how
likely its first answer passes its check as the score rises (a logistic fit on the recorded
first tries), and the boundary at which that likelihood falls to the target first-pass rate.

Between two adjacent tiers the cheaper model keeps every score up to where it is still expected
to pass at the target rate, and the next model takes over there (ranges stay overlapping by the
same margin they had). The expected first-pass rate and cost of the recorded tasks are compared
before and after; nothing is written unless asked (``fleet routing calibrate --write``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from fleet.config import ComplexityRange, ModelConfig
from fleet.costs.pricing import estimate


@dataclass(frozen=True)
class FirstTry:
    score: float
    model: str
    passed: bool
    tokens: int = 0  # the task's input tokens, for its expected cost


@dataclass(frozen=True)
class PassCurve:
    """P(first answer passes | score) = 1 / (1 + exp(-(a + b * score)))."""

    a: float
    b: float
    n: int

    def at(self, score: float) -> float:
        return 1.0 / (1.0 + math.exp(-(self.a + self.b * score)))

    def boundary(self, target: float) -> float | None:
        """The score where the pass rate falls to ``target`` (None: it never does in [0, 1])."""
        if self.b >= 0:
            return None
        score = (math.log(target / (1 - target)) - self.a) / self.b
        return min(max(score, 0.0), 1.0)


def fit(points: Sequence[tuple[float, bool]], iterations: int = 50) -> PassCurve:
    """Logistic regression of pass on score (Newton's method, lightly regularised so that a
    model that always or never passes still gets a finite curve)."""
    a = b = 0.0
    ridge = 1e-3
    for _ in range(iterations):
        ga, gb = -ridge * a, -ridge * b
        haa, hab, hbb = ridge, 0.0, ridge
        for x, passed in points:
            p = 1.0 / (1.0 + math.exp(-(a + b * x)))
            w = p * (1 - p)
            ga += (passed - p)
            gb += (passed - p) * x
            haa, hab, hbb = haa + w, hab + w * x, hbb + w * x * x
        det = haa * hbb - hab * hab
        if det <= 1e-12:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        a, b = a + da, b + db
        if abs(da) + abs(db) < 1e-9:
            break
    return PassCurve(a, b, len(points))


@dataclass
class Expected:
    first_pass: float
    cost_usd: float


@dataclass
class Calibration:
    curves: dict[str, PassCurve]
    ranges: dict[str, ComplexityRange]  # the proposed ranges, by model
    before: Expected
    after: Expected
    changed: dict[str, tuple[ComplexityRange, ComplexityRange]] = field(default_factory=dict)


def chosen(models: Sequence[ModelConfig], ranges: dict[str, ComplexityRange],
           score: float) -> ModelConfig:
    """The cheapest model whose range holds ``score`` (else the strongest), as the router."""
    holding = [m for m in models if ranges[m.name].holds(score)]
    return min(holding or [models[-1]], key=lambda m: estimate(m, 1000, 1000))


def expected(models: Sequence[ModelConfig], ranges: dict[str, ComplexityRange],
             curves: dict[str, PassCurve], tries: Sequence[FirstTry],
             output_tokens: int) -> Expected:
    if not tries:
        return Expected(0.0, 0.0)
    passes = cost = 0.0
    for t in tries:
        model = chosen(models, ranges, t.score)
        curve = curves.get(model.name)
        passes += curve.at(t.score) if curve is not None else 1.0
        cost += float(estimate(model, t.tokens, output_tokens))
    return Expected(passes / len(tries), cost / len(tries))


def calibrate(models: Sequence[ModelConfig], tries: Sequence[FirstTry], target: float,
              output_tokens: int = 512, min_points: int = 30) -> Calibration:
    """Proposed ranges for ``models`` (enabled, any order) from the recorded first ``tries``."""
    tiers = sorted(models, key=lambda m: (m.complexity_range.max, m.name))
    curves = {m.name: fit([(t.score, t.passed) for t in tries if t.model == m.name])
              for m in tiers if sum(t.model == m.name for t in tries) >= min_points}
    ranges = {m.name: m.complexity_range for m in tiers}
    proposed = dict(ranges)
    for lower, upper in itertools.pairwise(tiers):
        curve = curves.get(lower.name)
        edge = curve.boundary(target) if curve is not None else None
        if edge is None:
            continue
        overlap = max(ranges[lower.name].max - ranges[upper.name].min, 0.0)
        proposed[lower.name] = ComplexityRange(min=proposed[lower.name].min,
                                               max=max(edge, proposed[lower.name].min))
        proposed[upper.name] = ComplexityRange(
            min=min(max(edge - overlap, 0.0), proposed[upper.name].max),
            max=proposed[upper.name].max)
    return Calibration(
        curves, proposed, expected(tiers, ranges, curves, tries, output_tokens),
        expected(tiers, proposed, curves, tries, output_tokens),
        {n: (ranges[n], proposed[n]) for n in ranges if ranges[n] != proposed[n]})
