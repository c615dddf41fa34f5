"""The task types that declare a result schema and a validator, by type."""

from __future__ import annotations

from typing import Any

from fleet.contracts import TaskType
from fleet.qe import flaky_test_hunting, quality_gate, security_review, test_generation
from fleet.qe.spec import TaskSpec

SPECS: dict[TaskType, TaskSpec[Any]] = {spec.task_type: spec for spec in (
    test_generation.SPEC, quality_gate.SPEC, security_review.SPEC, flaky_test_hunting.SPEC)}
