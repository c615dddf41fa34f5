"""What a QE task type declares beyond its prompt: its result schema and its validator, and the
check that turns a model's text into a validated result (or a coded error)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from fleet.contracts import QETask, TaskType
from fleet.errors import ResultInvalid
from fleet.qe.parse import parse_result

R = TypeVar("R", bound=BaseModel)


class Result(BaseModel):
    """Base of every result schema: unknown fields are refused (a model inventing structure
    is a result to retry, not to pass on)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class TaskSpec(Generic[R]):
    task_type: TaskType
    result: type[R]
    # The problems a deterministic check finds in a parsed result (none: it is valid).
    validate: Callable[[R, QETask], list[str]]
    # The result decided from the task alone, without a model, when rules can (else None).
    decide: Callable[[QETask], R | None] | None = None

    def decided(self, task: QETask) -> R | None:
        return self.decide(task) if self.decide is not None else None

    def check(self, text: str, task: QETask) -> R:
        """The validated result in ``text``: RESULT_001 when it holds none, RESULT_002 naming
        every problem when it is not valid for ``task``."""
        result = parse_result(text, self.result)
        problems = self.validate(result, task)
        if problems:
            raise ResultInvalid(f"{self.task_type.value}: " + "; ".join(problems))
        return result


def numbered_lines(text: str) -> int:
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)
