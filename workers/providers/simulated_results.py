"""What the simulated provider answers when a task type asks for a structured result: a
plausible, schema-valid JSON object built from the prompt (a pytest file naming the functions
of the given code, a gate verdict, findings, suspects), or, for the models named in
``FLEET_SIM_INVALID_MODELS``, prose with no result in it (the cascade's fault mode)."""

from __future__ import annotations

import json
import os
import re

from fleet.config import ModelConfig

_FUNCTION = re.compile(r"^def ([A-Za-z][A-Za-z0-9_]*)\(", re.MULTILINE)


def invalid_for(model: ModelConfig) -> bool:
    names = os.environ.get("FLEET_SIM_INVALID_MODELS", "")
    return model.name in {n.strip() for n in names.split(",") if n.strip()}


def answer(result_type: str, prompt: str, model: ModelConfig) -> str:
    if invalid_for(model):
        return "I looked at this carefully and it seems mostly fine to me."
    body: dict[str, object]
    if result_type == "test-generation":
        functions = sorted(set(_FUNCTION.findall(prompt)))[:20] or ["target"]
        tests = "\n\n\n".join(f"def test_{f}_is_callable():\n    assert callable({f})"
                              for f in functions)
        content = f"from code_under_test import {', '.join(functions)}\n\n\n{tests}\n"
        body = {"test_file": {"path": "tests/test_generated.py", "content": content},
                "framework": "pytest",
                "cases": [{"name": f"test_{f}_is_callable", "checks": f"{f} exists"}
                          for f in functions]}
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
        body = {}
    return "```json\n" + json.dumps(body, indent=2) + "\n```"
