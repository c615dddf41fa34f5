"""Reading structured results out of untrusted model text: bare, fenced, prose-wrapped,
truncated and hostile outputs end in a result or a coded error, never a crash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.errors import ResultInvalid, ResultParseFailed
from fleet.qe.parse import parse_result
from fleet.qe.quality_gate import QualityGateResult

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
