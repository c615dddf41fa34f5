"""Each task type's validator: it accepts a good result and names what is wrong in a bad one
(no model, no service)."""

from __future__ import annotations

import json

import pytest

from fleet.contracts import QETask, TaskType
from fleet.errors import ResultInvalid
from fleet.qe.quality_gate import decide_by_rules
from fleet.qe.results import SPECS

CODE = "def slugify(text):\n    return text.lower().replace(' ', '-')\n"
TESTS = ("from slug import slugify\n\n\ndef test_lowercases():\n    assert slugify('A') == 'a'\n"
         "\n\ndef test_spaces_become_dashes():\n    assert slugify('a b') == 'a-b'\n")


def check(task_type: str, result: dict, **task: object) -> object:
    qe = QETask.model_validate({"type": task_type, "description": "x"} | task)
    return SPECS[TaskType(task_type)].check(json.dumps(result), qe)


def test_generated_tests_that_parse_name_the_code_and_hold_their_cases_pass() -> None:
    good = {"test_file": {"path": "tests/test_slug.py", "content": TESTS},
            "framework": "pytest", "cases": [{"name": "test_lowercases"},
                                             {"name": "test_spaces_become_dashes"}]}
    assert check("test-generation", good, code=CODE).cases[1].name == "test_spaces_become_dashes"


@pytest.mark.parametrize(("change", "problem"), [
    ({"content": "def test_x(:\n    pass\n"}, "does not parse"),
    ({"content": "def test_lowercases():\n    assert 'a' == 'a'\n"}, "names none of the code"),
])
def test_generated_tests_that_do_not_parse_or_miss_the_code_fail(change: dict,
                                                                  problem: str) -> None:
    bad = {"test_file": {"path": "tests/test_slug.py"} | change, "framework": "pytest",
           "cases": [{"name": "test_lowercases"}]}
    with pytest.raises(ResultInvalid, match=problem):
        check("test-generation", bad, code=CODE)


def test_listed_cases_missing_from_the_file_are_named() -> None:
    bad = {"test_file": {"path": "t.py", "content": TESTS}, "framework": "pytest",
           "cases": [{"name": "test_lowercases"}, {"name": "test_unicode_is_folded"}]}
    with pytest.raises(ResultInvalid, match="test_unicode_is_folded"):
        check("test-generation", bad, code=CODE)


POLICY = {"metrics": {"coverage": 71.5, "failed_tests": 0},
          "policy": {"coverage": {"min": 80}, "failed_tests": {"max": 0},
                     "p95_latency_ms": {"max": 300}}}


def test_a_gate_with_metrics_and_a_policy_is_decided_by_the_rules() -> None:
    gate = decide_by_rules(QETask(type="quality-gate", description="gate", context=POLICY))
    assert gate is not None and gate.decision == "FAIL"
    assert [(b.rule, b.actual) for b in gate.blocking] == [("coverage >= 80", 71.5),
                                                           ("p95_latency_ms <= 300", None)]
    passing = POLICY | {"metrics": {"coverage": 91, "failed_tests": 0, "p95_latency_ms": 120}}
    assert decide_by_rules(QETask(type="quality-gate", description="gate",
                                  context=passing)).decision == "PASS"  # type: ignore[union-attr]
    assert decide_by_rules(QETask(type="quality-gate", description="gate")) is None


def test_a_gate_verdict_citing_a_metric_the_task_lacks_is_refused() -> None:
    verdict = {"decision": "FAIL", "blocking": [{"rule": "mutation_score >= 60"}]}
    with pytest.raises(ResultInvalid, match="mutation_score"):
        check("quality-gate", verdict, context=POLICY)


def test_security_findings_need_a_well_formed_cwe_and_a_line_in_the_code() -> None:
    finding = {"cwe": "CWE-89", "severity": "high", "line": 2, "evidence": "query(...)",
               "fix": "bind parameters"}
    assert check("security-review", {"findings": [finding]}, code=CODE).findings[0].line == 2
    with pytest.raises(ResultInvalid, match="line 9"):
        check("security-review", {"findings": [finding | {"line": 9}]}, code=CODE)
    with pytest.raises(ResultInvalid, match="cwe"):
        check("security-review", {"findings": [finding | {"cwe": "89"}]}, code=CODE)
    with pytest.raises(ResultInvalid, match="severity"):
        check("security-review", {"findings": [finding | {"severity": "urgent"}]}, code=CODE)


def test_flaky_suspects_quote_what_the_task_gave_and_name_a_known_cause() -> None:
    logs = "FAILED test_cache - AssertionError: expected 3 got 2 (run 4 of 10)"
    suspect = {"cause": "shared state", "evidence": ["expected 3 got 2"],
               "fix": "reset the cache in a fixture"}
    result = check("flaky-test-hunting", {"suspects": [suspect]}, context={"logs": logs})
    assert result.suspects[0].cause == "shared state"
    with pytest.raises(ResultInvalid, match="not found"):
        check("flaky-test-hunting", {"suspects": [suspect | {"evidence": ["never said"]}]},
              context={"logs": logs})
    with pytest.raises(ResultInvalid, match="cause"):
        check("flaky-test-hunting", {"suspects": [suspect | {"cause": "cosmic rays"}]},
              context={"logs": logs})
