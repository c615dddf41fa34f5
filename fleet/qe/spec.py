"""What a QE task type declares beyond its prompt: its result schema and its validator, and the
check that turns a model's text into a validated result (or a coded error)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from fleet.config.schema import QESection, SandboxLimits
from fleet.contracts import QETask, TaskType
from fleet.errors import ResultInvalid
from fleet.qe.parse import parse_result

if TYPE_CHECKING:
    from fleet.qe.verify import Verification

R = TypeVar("R", bound=BaseModel)


class Result(BaseModel):
    """Base of every result schema: unknown fields are refused (a model inventing structure
    is a result to retry, not to pass on)."""

    model_config = ConfigDict(extra="forbid")


class Inputs(BaseModel):
    """Base of a type's own input: the ``context`` entries it reads (checked at intake)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


@dataclass(frozen=True)
class TaskSpec(Generic[R]):
    task_type: TaskType
    result: type[R]
    # The problems a deterministic check finds in a parsed result (none: it is valid).
    validate: Callable[[R, QETask], list[str]]
    inputs: type[Inputs] | None = None  # the context entries the type reads
    # The result decided from the task alone, without a model, when rules can (else None).
    decide: Callable[[QETask], R | None] | None = None
    # Raises InvalidTask when the type's own input (in ``context``) is unusable, at intake.
    accept: Callable[[QETask], None] | None = None
    # Material derived from the input that the prompt adds (e.g. a report's uncovered lines).
    brief: Callable[[QETask], str] | None = None
    summarised: tuple[str, ...] = ()  # context keys the brief stands for in the prompt
    # Runs a valid result (generated tests) in a sandbox when ``verify: run`` asks for it.
    execute: Callable[[R, QETask, SandboxLimits], Verification] | None = None

    def decided(self, task: QETask) -> R | None:
        return self.decide(task) if self.decide is not None else None

    def executed(self, result: R, task: QETask, qe: QESection) -> Verification | None:
        """The result run in a sandbox, when the type can be and the task's ``context.verify``
        (else the config's ``qe.verify``) is ``run``."""
        if self.execute is None or str(task.context.get("verify", qe.verify)) != "run":
            return None
        return self.execute(result, task, qe.sandbox)

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


def reference_problems(task: QETask, refs: list[tuple[str | None, int | None]]) -> list[str]:
    """What is wrong with (file, line) references into the task's code: a file the task does
    not give, a line past the end of its file (or of the longest source when no file is named)."""
    sizes = {f.path: numbered_lines(f.content) for f in task.files}
    longest = max((numbered_lines(source) for _, source in task.all_code()), default=0)
    problems = []
    for path, line in refs:
        if path and sizes and path not in sizes:
            problems.append(f"{path} is not one of the task's files")
            continue
        limit = sizes.get(path, longest) if path else longest
        if line is not None and limit and line > limit:
            problems.append(f"line {line}{f' of {path}' if path else ''} is past the end "
                            f"({limit} lines)")
    return problems
