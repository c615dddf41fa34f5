"""Intake: a QE task from what a caller sent (a dict or JSON), or the error that says why not."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from fleet.contracts import MAX_TASK_ID, TASK_ID_PATTERN, QETask
from fleet.errors import InvalidTask, PayloadTooLarge, describe_invalid
from fleet.qe.results import accept


def parse_task(payload: Any, max_bytes: int) -> QETask:
    """A QETask from a dict or a JSON string, or InvalidTask / PayloadTooLarge naming why.
    ``max_bytes``: the payload limit (``fleet.maxPayloadBytes``)."""
    if isinstance(payload, str | bytes):
        if len(payload) > max_bytes:
            raise PayloadTooLarge(f"payload is {len(payload)} bytes, limit is {max_bytes}")
        try:
            payload = json.loads(payload)
        except ValueError as exc:
            raise InvalidTask(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidTask(f"task must be a JSON object, got {type(payload).__name__}")
    # UTF-8 bytes of the compact JSON: escaping non-ASCII (json's default) would count a
    # Japanese character as six bytes instead of three.
    size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        raise PayloadTooLarge(f"payload is {size} bytes, limit is {max_bytes}")
    try:
        task = QETask.model_validate(payload)
    except ValidationError as exc:
        raise InvalidTask(describe_invalid(exc)) from None
    return accept(task)


_TASK_ID = re.compile(TASK_ID_PATTERN)


def parse_task_id(raw: str) -> str:
    """A task id a caller named (a URL, a tool argument), or InvalidTask saying what one is."""
    if len(raw) > MAX_TASK_ID or not _TASK_ID.fullmatch(raw):
        raise InvalidTask(f"task id must be 1-{MAX_TASK_ID} letters, digits or .:-, starting "
                          "with a letter or digit")
    return raw
