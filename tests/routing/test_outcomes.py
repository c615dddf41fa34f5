"""Routing outcomes in PostgreSQL: one row per checked answer, written once per task however
often it is recorded, and read back as first-pass ratios per model and task type."""

from __future__ import annotations

import uuid

import pytest

from fleet.routing.outcomes import Try, first_pass, record_outcomes

pytestmark = pytest.mark.integration


def test_first_pass_counts_the_first_models_answers_and_where_tasks_ended(fleet, pg) -> None:
    run = uuid.uuid4().hex[:8]
    model = f"cheap-{run}"
    passed, escalated = f"{run}-a", f"{run}-b"
    record_outcomes(fleet.db, passed, "code-review", [Try(model, True)])
    tries = [Try(model, False, "no JSON object"), Try(model, False, "cases missing"),
             Try("strong", True)]
    record_outcomes(fleet.db, escalated, "code-review", tries)
    record_outcomes(fleet.db, escalated, "code-review", [Try(model, True)])  # a redelivery
    rows = pg.execute("SELECT try_no, model, valid, escalated_to FROM routing_outcomes "
                      "WHERE task_id = %s ORDER BY try_no", (escalated,)).fetchall()
    assert rows == [(1, model, False, model), (2, model, False, "strong"),
                    (3, "strong", True, None)]
    [stats] = [s for s in first_pass(fleet.db, days=1) if s.model == model]
    assert (stats.task_type, stats.tasks, stats.passed, stats.escalated, stats.valid_in_end) \
        == ("code-review", 2, 1, 1, 2)
    assert stats.ratio == 0.5
