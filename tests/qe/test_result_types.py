"""The result types beyond the first four: coverage gaps against a report, review findings,
regression risk, requirement issues and scenarios, performance plans, schema-bound test data."""

from __future__ import annotations

import json

import pytest

from fleet.contracts import QETask, TaskType
from fleet.dispatch.intake import parse_task
from fleet.errors import InvalidTask, ResultInvalid
from fleet.qe.prompts import build_prompt
from fleet.qe.results import SPECS
from tests.qe.test_coverage_report import COVERAGE_PY

CART = "".join(f"line {n}\n" for n in range(1, 10))


def check(task_type: str, result: dict, **task: object) -> object:
    qe = QETask.model_validate({"type": task_type, "description": "x"} | task)
    return SPECS[TaskType(task_type)].check(json.dumps(result), qe)


GAP = {"file": "src/shop/cart.py", "lines": [6, 7], "why": "the discount path",
       "suggested_test": "a cart with a coupon"}


def test_coverage_gaps_must_point_at_lines_the_report_leaves_uncovered() -> None:
    given = {"context": {"coverage": COVERAGE_PY}}
    assert check("coverage-analysis", {"gaps": [GAP], "summary": "s"}, **given).gaps[0].lines \
        == [6, 7]
    with pytest.raises(ResultInvalid, match="lines 2-3 are not uncovered"):
        check("coverage-analysis", {"gaps": [GAP | {"lines": [2, 3]}], "summary": "s"}, **given)
    with pytest.raises(ResultInvalid, match="not in the coverage report"):
        check("coverage-analysis", {"gaps": [GAP | {"file": "src/x.py"}], "summary": "s"},
              **given)


def test_the_prompt_carries_the_reports_uncovered_lines_not_the_raw_report() -> None:
    task = QETask(type="coverage-analysis", description="gaps?", context={"coverage": COVERAGE_PY})
    prompt = build_prompt(task)
    assert "src/shop/cart.py: 57% covered; uncovered lines 6-7, 9; branches untaken at lines 5" \
        in prompt.material
    assert "executed_lines" not in prompt.user


def test_an_unreadable_report_or_schema_is_refused_at_intake() -> None:
    with pytest.raises(InvalidTask, match="coverage report"):
        parse_task({"type": "coverage-analysis", "description": "x",
                    "context": {"coverage": "garbage"}}, 1 << 20)
    with pytest.raises(InvalidTask, match="not a valid JSON Schema"):
        parse_task({"type": "test-data-generation", "description": "x",
                    "context": {"schema": {"type": "nonsense"}}}, 1 << 20)


FINDING = {"file": "cart.py", "line": 7, "severity": "major", "category": "bug",
           "message": "the discount is applied twice"}


def test_review_findings_point_into_the_given_files() -> None:
    files = {"files": [{"path": "cart.py", "content": CART}]}
    assert check("code-review", {"findings": [FINDING], "summary": "s"}, **files)
    with pytest.raises(ResultInvalid, match=r"line 70 of cart\.py is past the end"):
        check("code-review", {"findings": [FINDING | {"line": 70}], "summary": "s"}, **files)
    with pytest.raises(ResultInvalid, match=r"other\.py is not one of the task.s files"):
        check("code-review", {"findings": [FINDING | {"file": "other.py"}], "summary": "s"},
              **files)
    with pytest.raises(ResultInvalid, match="category"):
        check("code-review", {"findings": [FINDING | {"category": "vibes"}], "summary": "s"},
              **files)


def test_regression_risk_is_at_least_its_riskiest_area_and_names_tests() -> None:
    area = {"area": "checkout totals", "risk": "high", "why": "rounding changed"}
    good = {"risk": "high", "areas": [area], "tests_to_run": ["tests/test_cart.py"]}
    assert check("regression-analysis", good).risk == "high"
    with pytest.raises(ResultInvalid, match="below its riskiest area"):
        check("regression-analysis", good | {"risk": "medium"})
    with pytest.raises(ResultInvalid, match="no tests to run"):
        check("regression-analysis", good | {"tests_to_run": []})


def test_requirement_issues_quote_the_requirements_and_scenarios_have_when_and_then() -> None:
    text = "The export SHOULD be fast.\nUsers can   download reports as CSV."
    issue = {"quote": "the export should be fast", "kind": "untestable",
             "detail": "no threshold"}
    scenario = {"title": "CSV export", "given": ["a report"], "when": ["I export it"],
                "then": ["a CSV downloads"]}
    assert check("requirements-validation", {"issues": [issue], "scenarios": [scenario]},
                 description=text)
    with pytest.raises(ResultInvalid, match="quotes not in the requirements"):
        check("requirements-validation", {"issues": [issue | {"quote": "must be secure"}]},
              description=text)
    with pytest.raises(ResultInvalid, match="then"):
        check("requirements-validation", {"scenarios": [scenario | {"then": []}]},
              description=text)


def test_a_performance_plan_needs_pass_criteria_and_bottlenecks_in_range() -> None:
    scenario = {"name": "peak", "workload": "checkout", "load": "200 rps", "duration_s": 600,
                "metrics": ["p95"], "pass_criteria": ["p95 < 300 ms"]}
    plan = {"scenarios": [scenario], "bottlenecks": [{"line": 3, "why": "N+1 query"}]}
    assert check("performance-testing", plan, code=CART)
    with pytest.raises(ResultInvalid, match="line 30 is past the end"):
        check("performance-testing", plan | {"bottlenecks": [{"line": 30, "why": "?"}]},
              code=CART)
    with pytest.raises(ResultInvalid, match="pass_criteria"):
        check("performance-testing", {"scenarios": [scenario | {"pass_criteria": []}]})


USER = {"type": "object", "required": ["email", "age"], "additionalProperties": False,
        "properties": {"email": {"type": "string", "format": "email"},
                       "age": {"type": "integer", "minimum": 0, "maximum": 150}}}


def test_test_data_records_validate_against_the_given_schema_and_count() -> None:
    given = {"context": {"schema": USER, "count": 2}}
    records = [{"email": "a@example.com", "age": 0}, {"email": "b@example.com", "age": 150}]
    assert len(check("test-data-generation", {"records": records}, **given).records) == 2
    with pytest.raises(ResultInvalid, match="record 1: age: 151 is greater than"):
        check("test-data-generation",
              {"records": [records[0], {"email": "b@example.com", "age": 151}]}, **given)
    with pytest.raises(ResultInvalid, match="1 records, 2 asked for"):
        check("test-data-generation", {"records": records[:1]}, **given)


@pytest.mark.parametrize(("task_type", "context", "field"), [
    ("quality-gate", {"metrics": {"coverage": "high"}}, "metrics.coverage"),
    ("quality-gate", {"policy": {"coverage": {"min": "eighty"}}}, "policy.coverage.min"),
    ("test-data-generation", {"count": 0}, "count"),
    ("test-generation", {"verify": "sometimes"}, "verify"),
    ("coverage-analysis", {"coverage": 7}, "coverage"),
])
def test_a_types_own_input_is_checked_at_intake(task_type: str, context: dict,
                                                field: str) -> None:
    with pytest.raises(InvalidTask, match=rf"context: .*{field}"):
        parse_task({"type": task_type, "description": "x", "context": context}, 1 << 20)
