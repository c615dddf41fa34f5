"""Error codes: every error carries its code and recovery hint, round-trips through Celery's
(type, args) serialisation, and describes a validation error in one line."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel, ValidationError

from fleet.errors import ALL_ERRORS, describe_invalid


def test_errors_round_trip_through_their_message() -> None:
    for cls in ALL_ERRORS:
        err = cls("something broke")
        clone = pickle.loads(pickle.dumps(err))  # what Celery does with (type, args)
        assert str(clone) == str(err) and cls(*err.args).code == cls.code
        assert err.to_dict()["recovery"]


def test_codes_are_unique_and_shaped_like_the_seeds() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(set(codes)) == len(codes)
    assert all(code.split("_")[0].isupper() and code.split("_")[1].isdigit() for code in codes)
    assert {"ROUTER_001", "STREAM_003", "COST_001", "COST_002"} <= set(codes)


def test_a_validation_error_is_one_line_naming_each_field() -> None:
    class Shape(BaseModel):
        a: int
        b: int
        c: int
        d: int

    with pytest.raises(ValidationError) as info:
        Shape.model_validate({"a": "x", "b": "y", "c": "z", "d": "w"})
    line = describe_invalid(info.value, limit=2)
    assert line.startswith("field a: ") and "; field b: " in line
    assert line.endswith("(and 2 more)") and "\n" not in line
