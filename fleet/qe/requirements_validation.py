"""``requirements-validation``: what makes the requirements hard to test (each issue quoting
the requirement) and BDD scenarios that pin them down."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Inputs, Result, TaskSpec

Kind = Literal["ambiguous", "untestable", "missing acceptance criteria", "conflicting",
               "incomplete"]


class RequirementsInputs(Inputs):
    requirements: str | None = Field(default=None, max_length=1 << 20, description=(
        "the requirements, when not in the description"))


class RequirementIssue(Result):
    quote: str = Field(min_length=1, max_length=2000, description="the requirement's words")
    kind: Kind
    detail: str = Field(min_length=1, max_length=4000)
    suggestion: str = Field(default="", max_length=4000)


class Scenario(Result):
    title: str = Field(min_length=1, max_length=500)
    given: list[str] = Field(default_factory=list, max_length=50)
    when: list[str] = Field(min_length=1, max_length=50)
    then: list[str] = Field(min_length=1, max_length=50)


class RequirementsValidationResult(Result):
    issues: list[RequirementIssue] = Field(default_factory=list, max_length=200)
    scenarios: list[Scenario] = Field(default_factory=list, max_length=200)


def _squashed(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def validate(result: RequirementsValidationResult, task: QETask) -> list[str]:
    given = _squashed("\n".join([task.description, *(s for _, s in task.all_code()),
                                 str(task.context.get("requirements", ""))]))
    invented = [i.quote[:60] for i in result.issues if _squashed(i.quote) not in given]
    problems = [f"quotes not in the requirements: {invented[:3]}"] if invented else []
    if not result.issues and not result.scenarios:
        problems.append("neither an issue nor a scenario")
    return problems


SPEC = TaskSpec(TaskType.REQUIREMENTS_VALIDATION, RequirementsValidationResult, validate,
                RequirementsInputs)
