"""``test-data-generation``: records that each validate against the JSON Schema the task gives
(``context.schema``), as many as it asks for (``context.count``)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.errors import InvalidTask
from fleet.qe.spec import Inputs, Result, TaskSpec

MAX_RECORDS = 1000


class TestDataInputs(Inputs):
    __test__ = False
    schema_: dict[str, Any] | None = Field(default=None, alias="schema",
                                           description="a JSON Schema each record must match")
    count: int | None = Field(default=None, ge=1, le=MAX_RECORDS,
                              description="how many records")


class TestDataResult(Result):
    __test__ = False
    records: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_RECORDS)
    notes: str = Field(default="", max_length=4000, description="edge cases the data covers")


def _validator(task: QETask) -> Draft202012Validator | None:
    schema = task.context.get("schema")
    if schema is None:
        return None
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise InvalidTask(f"context.schema is not a valid JSON Schema: {exc.message}") from None
    return Draft202012Validator(schema)


def _count(task: QETask) -> int | None:
    count = task.context.get("count")  # checked at intake (TestDataInputs)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def accept(task: QETask) -> None:
    _validator(task)


def validate(result: TestDataResult, task: QETask) -> list[str]:
    problems = []
    count = _count(task)
    if count is not None and len(result.records) != count:
        problems.append(f"{len(result.records)} records, {count} asked for")
    validator = _validator(task)
    if validator is not None:
        for index, record in enumerate(result.records):
            error = next(iter(validator.iter_errors(record)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "record"
                problems.append(f"record {index}: {where}: {error.message}")
            if len(problems) >= 5:
                break
    return problems


SPEC = TaskSpec(TaskType.TEST_DATA_GENERATION, TestDataResult, validate, TestDataInputs,
                accept=accept)
