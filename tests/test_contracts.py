"""Task validation, the published schema and error codes."""

from __future__ import annotations

import json
import pickle

import pytest

from fleet.contracts import QETask
from fleet.dispatch.intake import parse_task
from fleet.errors import ALL_ERRORS, InvalidTask, PayloadTooLarge


def test_schema_is_json_schema_of_qetask() -> None:
    schema = QETask.model_json_schema()
    assert set(schema["required"]) == {"type", "description"}
    assert "test-generation" in json.dumps(schema)


def test_parse_accepts_dict_and_json_string() -> None:
    payload = {"type": "quality-gate", "description": "gate it"}
    assert parse_task(payload, 1 << 20).type == "quality-gate"
    assert parse_task(json.dumps(payload), 1 << 20).description == "gate it"


@pytest.mark.parametrize(("payload", "error", "text"), [
    ("[", InvalidTask, "malformed JSON"),
    (42, InvalidTask, "JSON object"),
    ({"type": "nope", "description": "x"}, InvalidTask, "field type"),
    ({"type": "general", "description": "x", "surprise": 1}, InvalidTask, "field surprise"),
    ({"type": "general", "description": "x", "id": "has spaces"}, InvalidTask, "field id"),
    ({"type": "general", "description": "x" * 2000}, PayloadTooLarge, "limit is 1000"),
])
def test_parse_rejects_with_code_and_field(payload: object, error: type, text: str) -> None:
    with pytest.raises(error) as info:
        parse_task(payload, max_bytes=1000)
    assert text in str(info.value)
    assert str(info.value).startswith(info.value.code)


def test_payload_size_is_counted_in_utf8_bytes() -> None:
    text = "日本語" * 100  # 300 characters, 900 bytes in UTF-8, 1,800 as \\u escapes
    assert parse_task({"type": "general", "description": text}, max_bytes=1000).description
    with pytest.raises(PayloadTooLarge):
        parse_task({"type": "general", "description": text * 2}, max_bytes=1000)


def test_errors_round_trip_through_their_message() -> None:
    for cls in ALL_ERRORS:
        err = cls("something broke")
        clone = pickle.loads(pickle.dumps(err))  # what Celery does with (type, args)
        assert str(clone) == str(err) and cls(*err.args).code == cls.code
        assert err.to_dict()["recovery"]
