"""Reading structured results out of untrusted model text: bare, fenced, prose-wrapped,
truncated and hostile outputs end in a result or a coded error, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.config import ModelConfig
from fleet.contracts import TaskType
from fleet.errors import ResultInvalid, ResultParseFailed
from fleet.qe.parse import parse_result
from fleet.qe.prompts import build_prompt
from fleet.qe.quality_gate import QualityGateResult
from fleet.qe.results import SPECS
from tests.qe.samples import SAMPLES
from workers.providers.simulated_results import answer

GOOD = {"decision": "FAIL", "reasons": ["coverage 71 < 80"],
        "blocking": [{"rule": "coverage >= 80", "actual": 71, "threshold": 80}]}


@pytest.mark.parametrize("text", [
    json.dumps(GOOD),
    f"Here is the verdict:\n```json\n{json.dumps(GOOD, indent=2)}\n```\nThanks.",
    f"Sure! {json.dumps(GOOD)} Let me know if you need more.",
    f'Draft {{"decision": "MAYBE"}} then the final: {json.dumps(GOOD)}',
])
def test_a_result_is_found_bare_fenced_or_wrapped_in_prose(text: str) -> None:
    result = parse_result(text, QualityGateResult)
    assert result.decision == "FAIL" and result.blocking[0].actual == 71


def test_a_cut_off_result_is_a_parse_error_that_says_so() -> None:
    with pytest.raises(ResultParseFailed, match="cut off") as info:
        parse_result(json.dumps(GOOD)[:-20], QualityGateResult)
    assert info.value.code == "RESULT_001"


def test_a_result_of_the_wrong_shape_names_the_field() -> None:
    with pytest.raises(ResultInvalid, match="decision") as info:
        parse_result('{"decision": "MAYBE", "reasons": []}', QualityGateResult)
    assert info.value.code == "RESULT_002"
    with pytest.raises(ResultInvalid, match="field confidence: Extra"):  # invented structure
        parse_result(json.dumps(GOOD | {"confidence": 0.9}), QualityGateResult)


@settings(max_examples=300, deadline=None, database=None)
@given(st.one_of(st.text(max_size=400),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                              lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                              max_leaves=10).map(json.dumps)))
def test_any_output_is_a_result_or_a_coded_error(text: str) -> None:
    try:
        parse_result(text, QualityGateResult)
    except (ResultParseFailed, ResultInvalid) as exc:
        assert exc.code in ("RESULT_001", "RESULT_002")


MODEL = ModelConfig.model_validate({
    "name": "m", "provider": "simulated", "model": "m",
    "capabilities": {"maxTokens": 1000, "costPer1kTokens": {"input": 1, "output": 1}},
    "complexityRange": {"min": 0, "max": 1}})


def good_answer(task_type: str) -> str:
    return answer(task_type, build_prompt(SAMPLES[task_type]).user, MODEL)


def test_every_result_type_has_a_sample_the_simulated_model_answers_validly() -> None:
    assert set(SAMPLES) == {t.value for t in SPECS}
    for task_type, task in SAMPLES.items():
        SPECS[TaskType(task_type)].check(good_answer(task_type), task)


CODED = (ResultParseFailed, ResultInvalid)


@pytest.mark.parametrize("task_type", sorted(SAMPLES))
@settings(max_examples=40, deadline=None, database=None)
@given(before=st.text(max_size=80).filter(lambda t: "{" not in t and "`" not in t),
       after=st.text(max_size=80).filter(lambda t: "{" not in t and "`" not in t),
       cut=st.floats(0, 1), junk=st.text(max_size=40))
def test_each_type_reads_through_prose_and_ends_truncation_or_junk_in_a_coded_error(
        task_type: str, before: str, after: str, cut: float, junk: str) -> None:
    spec, task, good = SPECS[TaskType(task_type)], SAMPLES[task_type], good_answer(task_type)
    expected = spec.check(good, task)
    assert spec.check(f"{before}\n{good}\n{after}", task) == expected
    body = json.dumps(expected.model_dump(mode="json"))
    damaged = body[:int(cut * len(body))] + junk
    try:
        got = spec.check(damaged, task)
    except CODED as exc:
        assert exc.code in ("RESULT_001", "RESULT_002")
        return
    # The junk may close the cut into a whole, smaller object (fields left at their
    # defaults): a complete answer no parser can tell from a cut one.
    assert got == expected or _whole_object(damaged), damaged


def _whole_object(text: str) -> bool:
    try:
        json.JSONDecoder().raw_decode(text[text.find("{"):])
        return True
    except ValueError:
        return False
