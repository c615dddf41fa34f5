"""Reading a model's structured result out of untrusted text: a JSON object, bare or fenced,
with prose around it; truncation and hostile input end in a clear error, never a crash."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from fleet.errors import ResultInvalid, ResultParseFailed, describe_invalid

R = TypeVar("R", bound=BaseModel)

MAX_RESULT_CHARS = 1 << 20  # a result larger than this is refused before any parsing
_FENCE = re.compile(r"```(?:json|JSON)?[ \t]*\n(.*?)```", re.DOTALL)


def _objects(text: str) -> list[Any]:
    """Candidate JSON objects: fenced blocks first, then each top-level ``{…}`` in the text."""
    found: list[Any] = []
    decoder = json.JSONDecoder()
    for block in _FENCE.findall(text):
        try:
            found.append(json.loads(block))
        except ValueError:
            continue
    start = text.find("{")
    while start != -1:
        try:
            value, end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        found.append(value)
        start = text.find("{", end)
    return [value for value in found if isinstance(value, dict)]


def parse_result(text: str, schema: type[R]) -> R:
    """The first JSON object in ``text`` that ``schema`` accepts. RESULT_001 when there is no
    JSON object (or it is cut off), RESULT_002 naming the fields when none fits the schema."""
    if not isinstance(text, str):
        raise ResultParseFailed(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_RESULT_CHARS:
        raise ResultParseFailed(f"result is {len(text)} characters, limit {MAX_RESULT_CHARS}")
    candidates = _objects(text)
    if not candidates:
        cut = "{" in text and text.rstrip()[-1:] not in ("}", "`")
        raise ResultParseFailed("no JSON object in the output" + (" (it looks cut off)"
                                                                   if cut else ""))
    first_error: ValidationError | None = None
    for candidate in candidates:
        try:
            return schema.model_validate(candidate)
        except ValidationError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise ResultInvalid(f"{schema.__name__}: {describe_invalid(first_error)}")
