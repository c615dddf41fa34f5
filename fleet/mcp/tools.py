"""The MCP tools: one per QE task type (its input schema the task's fields plus the type's own
input, its output schema the type's result schema), and the support tools' definitions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import mcp.types as types
from pydantic import BaseModel, ConfigDict, Field, create_model

from fleet.contracts import MAX_TASK_ID, MAX_TEXT, TASK_ID_PATTERN, SourceFile, TaskType
from fleet.qe.prompts import result_schema
from fleet.qe.results import SPECS

AGENT_TYPE = "mcp-client"  # the agent type MCP calls run as (flags can be set for it)


@dataclass(frozen=True)
class QETool:
    name: str
    task_type: TaskType
    title: str
    summary: str


QE_TOOLS = {tool.name: tool for tool in (
    QETool("qe_generate_tests", TaskType.TEST_GENERATION, "Generate tests",
           "Write a test file for the given code; with verify=run, run it in a sandbox."),
    QETool("qe_analyze_coverage", TaskType.COVERAGE_ANALYSIS, "Analyse coverage gaps",
           "Find the gaps that matter in a coverage report and the tests that would close "
           "them."),
    QETool("qe_quality_gate", TaskType.QUALITY_GATE, "Decide a quality gate",
           "PASS, FAIL or WARN with reasons; decided by rules when metrics and a policy are "
           "given."),
    QETool("qe_hunt_flaky_test", TaskType.FLAKY_TEST_HUNTING, "Hunt a flaky test",
           "Name what makes a test flaky, with evidence from the test or its logs, and a fix."),
    QETool("qe_review_security", TaskType.SECURITY_REVIEW, "Review security",
           "Findings with CWE, severity, line, evidence and fix."),
    QETool("qe_assess_regression", TaskType.REGRESSION_ANALYSIS, "Assess regression risk",
           "How risky a change is, where it could regress, and which tests to run."),
    QETool("qe_validate_requirements", TaskType.REQUIREMENTS_VALIDATION,
           "Validate requirements", "Ambiguous or untestable requirements, and BDD scenarios."),
    QETool("qe_review_code", TaskType.CODE_REVIEW, "Review code",
           "Defects and maintainability findings on the given code."),
    QETool("qe_plan_performance_tests", TaskType.PERFORMANCE_TESTING,
           "Plan performance tests", "Load scenarios with pass criteria, and likely "
           "bottlenecks."),
    QETool("qe_generate_test_data", TaskType.TEST_DATA_GENERATION, "Generate test data",
           "Records valid against a given JSON Schema."),
)}


class TaskArguments(BaseModel):
    """What every QE tool takes: the task's own fields (the QETask wire contract)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = Field(min_length=1, max_length=MAX_TEXT, description="what is asked")
    code: str | None = Field(default=None, max_length=MAX_TEXT, description="inline code")
    language: str | None = Field(default=None, max_length=64)
    files: list[SourceFile] = Field(default_factory=list, max_length=1000,
                                    description="source files (path, content)")
    preferred_model: str | None = Field(default=None, max_length=100,
                                        description="a configured model, instead of routing")
    max_output_tokens: int = Field(default=2048, gt=0, le=200_000)
    priority: int = Field(default=5, ge=0, le=9, description="0 is served first")
    id: str | None = Field(default=None, max_length=MAX_TASK_ID, pattern=TASK_ID_PATTERN,
                           description="the task id (default: a new one)")


@cache
def arguments_model(task_type: TaskType) -> type[TaskArguments]:
    """The tool's arguments: the task's fields and the type's own input, side by side."""
    inputs = SPECS[task_type].inputs
    if inputs is None:
        return TaskArguments
    title = "".join(part.title() for part in task_type.value.split("-")) + "Arguments"
    fields: dict[str, Any] = {field: (info.annotation, info)
                              for field, info in inputs.model_fields.items()}
    return create_model(title, __base__=TaskArguments, **fields)


def task_payload(tool: QETool, arguments: TaskArguments) -> dict[str, Any]:
    """The QETask JSON for a call: the type's own input goes into ``context``."""
    inputs = SPECS[tool.task_type].inputs
    own = {info.alias or field for field, info in inputs.model_fields.items()} if inputs \
        else set()
    given = arguments.model_dump(exclude_none=True, by_alias=True)
    return ({k: v for k, v in given.items() if k not in own}
            | {"type": tool.task_type.value, "agent_type": AGENT_TYPE,
               "context": {k: v for k, v in given.items() if k in own}})


def qe_tool_definitions() -> list[types.Tool]:
    return [types.Tool(name=tool.name, title=tool.title, description=tool.summary,
                       input_schema=arguments_model(tool.task_type).model_json_schema(
                           by_alias=True),
                       output_schema=result_schema(tool.task_type.value))
            for tool in QE_TOOLS.values()]


TASK_ID_INPUT = {"type": "object", "required": ["task_id"], "additionalProperties": False,
                 "properties": {"task_id": {"type": "string", "pattern": TASK_ID_PATTERN,
                                            "maxLength": MAX_TASK_ID}}}
SUPPORT_TOOLS = [
    types.Tool(name="qe_task_status", title="Task status",
               description="A task's state, model selection, result or error, and cost.",
               input_schema=TASK_ID_INPUT),
    types.Tool(name="qe_costs", title="Costs", description=(
        "Spend, requests and savings against running everything on the default model."),
        input_schema={"type": "object", "additionalProperties": False, "properties": {
            "period": {"enum": ["day", "week", "month"], "default": "day"},
            "by": {"enum": ["model", "task-type", "agent"], "default": "model"}}}),
    types.Tool(name="qe_models", title="Models", description=(
        "The configured models: enabled, which have workers, prices, circuit state."),
        input_schema={"type": "object", "additionalProperties": False, "properties": {}}),
    types.Tool(name="qe_cancel_task", title="Cancel a task", description=(
        "Stop a task: its stream ends with TASK_004 and its budget reservation is released."),
        input_schema=TASK_ID_INPUT),
]
