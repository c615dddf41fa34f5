"""What the simulated provider answers when a task type asks for a structured result: a
plausible, schema-valid JSON object built from the prompt (a pytest file naming the functions
of the given code, a gate verdict, findings, suspects), or, for the models named in
``FLEET_SIM_INVALID_MODELS``, prose with no result in it (the cascade's fault mode)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from fleet.config import ModelConfig
from fleet.qe.test_generation import INLINE_MODULE, module_name

_FUNCTION = re.compile(r"^def ([A-Za-z][A-Za-z0-9_]*)\(", re.MULTILINE)
_BLOCK = re.compile(r"^```([^\n`]*)\n(.*?)\n```", re.MULTILINE | re.DOTALL)
_UNCOVERED = re.compile(r"^- (\S+): \d+% covered; uncovered lines ([0-9, -]+)", re.MULTILINE)


def invalid_for(model: ModelConfig) -> bool:
    names = os.environ.get("FLEET_SIM_INVALID_MODELS", "")
    return model.name in {n.strip() for n in names.split(",") if n.strip()}


def answer(result_type: str, prompt: str, model: ModelConfig) -> str:
    if invalid_for(model):
        return "I looked at this carefully and it seems mostly fine to me."
    body: dict[str, object]
    if result_type == "test-generation":
        body = _test_file(prompt)
    elif result_type == "quality-gate":
        body = {"decision": "PASS", "reasons": ["no blocking issue found (simulated review)"],
                "blocking": []}
    elif result_type == "security-review":
        body = {"findings": []}
    elif result_type == "flaky-test-hunting":
        asked = prompt.split("\n\nAnswer with one JSON object")[0]  # not the schema
        quote = next((line.strip() for line in reversed(asked.splitlines()) if line.strip()),
                     asked.strip())
        body = {"suspects": [{"cause": "timing", "evidence": [quote],
                              "fix": "wait for the condition instead of sleeping"}]}
    else:
        body = _plain_answers(prompt).get(result_type, {})
    return "```json\n" + json.dumps(body, indent=2) + "\n```"


def _context(prompt: str) -> dict[str, Any]:
    at = prompt.find("Context:\n")
    try:
        value = json.JSONDecoder().raw_decode(prompt, at + len("Context:\n"))[0] if at >= 0 \
            else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _example(schema: Any) -> Any:
    """The simplest value a (small) JSON Schema accepts."""
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: _example(properties.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [_example(schema.get("items", {}))] * schema.get("minItems", 0)
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return "x" * max(schema.get("minLength", 7), 1) if kind == "string" else None


def _first_range(spans: str) -> list[int]:
    first = spans.split(",")[0].strip()
    low, _, high = first.partition("-")
    return list(range(int(low), int(high or low) + 1))


def _plain_answers(prompt: str) -> dict[str, dict[str, Any]]:
    context = _context(prompt)
    count = context.get("count", 3) if isinstance(context.get("count"), int) else 3
    return {
        "coverage-analysis": {
            "gaps": [{"file": path, "lines": _first_range(spans),
                      "why": "this path is never executed by the suite",
                      "suggested_test": f"call the code at {path} lines {spans.split(',')[0]} "
                                        "with input that reaches them and assert the outcome"}
                     for path, spans in _UNCOVERED.findall(prompt)[:10]],
            "summary": "simulated analysis of the uncovered lines in the report"},
        "code-review": {"findings": [], "summary": "no defect found (simulated review)"},
        "regression-analysis": {"risk": "low", "areas": [], "tests_to_run": ["tests/"]},
        "requirements-validation": {"issues": [], "scenarios": [{
            "title": "the requirement holds", "given": ["the system is running"],
            "when": ["the requirement is exercised"], "then": ["the stated outcome holds"]}]},
        "performance-testing": {"scenarios": [{
            "name": "baseline", "workload": "the main request path", "load": "50 rps steady",
            "duration_s": 300, "metrics": ["p95 latency", "error rate"],
            "pass_criteria": ["p95 < 200 ms", "errors < 0.1%"]}], "tools": ["locust"]},
        "test-data-generation": {"records": [_example(context.get("schema"))
                                             if "schema" in context else {"id": n + 1}
                                             for n in range(count)]},
    }


def _test_file(prompt: str) -> dict[str, Any]:
    """A pytest file importing each public function of the given Python code from where it
    lives (a file's module, or the inline code's) and checking that it is there."""
    imports: dict[str, list[str]] = {}
    for hint, source in _BLOCK.findall(prompt):
        if hint.endswith(".py") or hint in ("python", "py", ""):
            module = module_name(hint) if hint.endswith(".py") else INLINE_MODULE
            imports.setdefault(module, []).extend(sorted(set(_FUNCTION.findall(source))))
    imports = {m: names[:20] for m, names in imports.items() if names and m}
    functions = [f for names in imports.values() for f in names] or ["target"]
    head = "\n".join(f"from {m} import {', '.join(names)}" for m, names in sorted(imports.items()))
    tests = "\n\n\n".join(f"def test_{f}_is_callable():\n    assert callable({f})"
                            for f in functions)
    return {"test_file": {"path": "tests/test_generated.py",
                          "content": f"{head or 'target = None'}\n\n\n{tests}\n"},
            "framework": "pytest",
            "cases": [{"name": f"test_{f}_is_callable", "checks": f"{f} exists"}
                      for f in functions]}
