"""Calibrating complexity ranges on synthetic outcomes whose right boundary is known."""

from __future__ import annotations

import math
import random

from fleet.config import load_config
from fleet.routing.calibrate import FirstTry, calibrate, fit
from tests.config.test_config import SHIPPED

CONFIG = load_config(SHIPPED)
MODELS = CONFIG.enabled_models()
CHEAP = min(MODELS, key=lambda m: m.complexity_range.max)  # claude-haiku-4, 0-0.4


def outcomes(model: str, steepness: float, midpoint: float, n: int, seed: int,
             low: float = 0.0, high: float = 1.0) -> list[FirstTry]:
    rng = random.Random(seed)
    tries = []
    for _ in range(n):
        score = rng.uniform(low, high)
        passes = 1 / (1 + math.exp(-steepness * (midpoint - score)))
        tries.append(FirstTry(score, model, rng.random() < passes, tokens=800))
    return tries


def test_the_fit_recovers_a_known_pass_curve() -> None:
    curve = fit([(t.score, t.passed) for t in outcomes("m", 10, 0.5, 4000, seed=1)])
    assert abs(curve.b + 10) < 1.5 and abs(curve.a - 5) < 0.8
    # The score where the pass rate falls to 90 %: 0.5 - ln(9) / 10 = 0.28.
    assert abs(curve.boundary(0.9) - 0.28) < 0.03  # type: ignore[operator]


def test_the_cheap_models_boundary_moves_to_where_it_still_passes_at_the_target() -> None:
    # The cheap model is routed scores 0-0.4 today but passes 90 % only up to 0.28: the
    # boundary comes down, the next tier starts lower by the same overlap, the expected
    # first-pass rate rises and the cost rises with it (more goes to the stronger model).
    tries = outcomes(CHEAP.name, 10, 0.5, 3000, seed=2, high=0.4)
    result = calibrate(MODELS, tries, target=0.9)
    assert abs(result.ranges[CHEAP.name].max - 0.28) < 0.04
    overlap = 0.4 - 0.3  # haiku's max over sonnet's min in the shipped config
    assert abs(result.ranges["claude-sonnet-4.5"].min - (result.ranges[CHEAP.name].max - overlap)
               ) < 1e-9
    assert result.after.first_pass > result.before.first_pass
    assert result.after.cost_usd > result.before.cost_usd
    assert set(result.changed) == {CHEAP.name, "claude-sonnet-4.5"}


def test_a_model_that_passes_further_than_its_range_may_take_more() -> None:
    tries = outcomes(CHEAP.name, 10, 0.75, 3000, seed=3, high=0.4) + outcomes(
        "claude-sonnet-4.5", 10, 1.2, 1000, seed=5, low=0.4, high=0.8)
    result = calibrate(MODELS, tries, target=0.9)  # tasks at 0.4-0.53 move to the cheap model
    assert result.ranges[CHEAP.name].max > 0.5  # 0.75 - ln(9)/10 = 0.53, extrapolated
    assert result.after.cost_usd < result.before.cost_usd


def test_too_few_outcomes_change_nothing() -> None:
    result = calibrate(MODELS, outcomes(CHEAP.name, 10, 0.5, 10, seed=4), target=0.9)
    assert result.changed == {} and result.curves == {}
