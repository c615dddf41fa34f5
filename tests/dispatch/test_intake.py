"""Intake: what a caller sent becomes a QETask, or an error naming the field and its code."""

from __future__ import annotations

import json

import pytest

from fleet.dispatch.intake import parse_task
from fleet.errors import InvalidTask, PayloadTooLarge


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
