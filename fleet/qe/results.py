"""The task types that declare a result schema and a validator, by type."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from fleet.contracts import QETask, TaskType
from fleet.errors import InvalidTask, describe_invalid
from fleet.qe import (
    code_review,
    coverage_analysis,
    flaky_test_hunting,
    performance_testing,
    quality_gate,
    regression_analysis,
    requirements_validation,
    security_review,
    test_data_generation,
    test_generation,
    verify,
)
from fleet.qe.spec import TaskSpec

# Generated tests can be run (``verify: run``): the runner is joined here, above both modules.
SPECS: dict[TaskType, TaskSpec[Any]] = {spec.task_type: spec for spec in (
    replace(test_generation.SPEC, execute=verify.run_generated_tests), coverage_analysis.SPEC,
    quality_gate.SPEC, flaky_test_hunting.SPEC,
    security_review.SPEC, regression_analysis.SPEC, requirements_validation.SPEC,
    code_review.SPEC, performance_testing.SPEC, test_data_generation.SPEC)}


def accept(task: QETask) -> QETask:
    """``task`` when its type's own input (the ``context`` entries it reads) is usable, else
    InvalidTask saying why."""
    spec = SPECS.get(task.type)
    if spec is None:
        return task
    if spec.inputs is not None:
        try:
            spec.inputs.model_validate(task.context)
        except ValidationError as exc:
            raise InvalidTask("context: " + describe_invalid(exc)) from None
    if spec.accept is not None:
        spec.accept(task)
    return task
