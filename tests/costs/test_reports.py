"""Cost reports against real PostgreSQL: spend by period and dimension, savings against the
default model, table / JSON / CSV."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from fleet.costs.reports import cost_report, render
from tests.costs.test_rollup import record


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_cost_report_formats_and_savings(fmt: str, fleet: Any) -> None:
    before = cost_report(fleet.db, fleet.config, "day", "model")
    run = uuid.uuid4().hex[:6]
    haiku = record(f"rep-{run}-1", "claude-haiku-4", task_type=f"gate-{run}", agent=f"a-{run}")
    opus = record(f"rep-{run}-2", "claude-opus-4", task_type=f"sec-{run}", agent=f"b-{run}")
    after = cost_report(fleet.db, fleet.config, "day", "model")
    assert after["total_cost_usd"] - before["total_cost_usd"] == haiku + opus
    # The same tokens on the default model (sonnet, 3 / 15 per million): 2 x 0.0105.
    assert after["single_model_cost_usd"] - before["single_model_cost_usd"] == Decimal("0.021")
    assert after["savings_usd"] == after["single_model_cost_usd"] - after["total_cost_usd"]
    # The quality-equivalent baseline: everything on the strongest model used (opus here).
    assert after["strongest_model"] == "claude-opus-4"
    assert after["savings_vs_strongest_usd"] == (after["strongest_model_cost_usd"]
                                                 - after["total_cost_usd"]) >= 0
    text = render(cost_report(fleet.db, fleet.config, "week", "task-type"), fmt)  # type: ignore[arg-type]
    if fmt == "json":
        groups = {g["task-type"]: g for g in json.loads(text)["groups"]}
        assert Decimal(groups[f"sec-{run}"]["cost_usd"]) == opus
    else:
        assert text.splitlines()[0].startswith("task-type,requests")
        assert any(line.startswith(f"gate-{run},1,1000,500") for line in text.splitlines())
    by_agent = {g["agent"] for g in cost_report(fleet.db, fleet.config, "month", "agent")["groups"]}
    assert {f"a-{run}", f"b-{run}"} <= by_agent


def test_savings_are_told_in_words_against_both_baselines_never_as_a_negative() -> None:
    from fleet.costs.reports import savings_lines

    lines = savings_lines({
        "total_cost_usd": Decimal("0.048"), "period": "day",
        "single_model": "claude-haiku-4", "single_model_cost_usd": Decimal("0.027"),
        "savings_usd": Decimal("-0.021"), "savings_percent": -77.78,
        "strongest_model": "claude-opus-4", "strongest_model_cost_usd": Decimal("0.135"),
        "savings_vs_strongest_usd": Decimal("0.087"), "savings_vs_strongest_percent": 64.44})
    assert lines == [
        "total $0.048 this day",
        "everything on the default model (claude-haiku-4) would have cost $0.027: routing cost "
        "$0.021 more (77.78%): harder tasks went to stronger models",
        "everything on the strongest model used (claude-opus-4) would have cost $0.135: "
        "routing saved $0.087 (64.44%)"]
