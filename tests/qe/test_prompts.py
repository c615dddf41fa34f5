"""Prompts: the task's material (code, files, context) first, so a provider can cache it, then
the instruction and the request."""

from __future__ import annotations

from fleet.contracts import QETask
from fleet.qe.prompts import SYSTEM, build_prompt


def test_the_material_comes_first_and_is_marked_reusable() -> None:
    task = QETask(type="test-generation", description="Cover the edge cases.",
                  code="def f(x):\n    return x", language="python",
                  files=[{"path": "util.py", "content": "def g(): pass"}],
                  context={"framework": "pytest"})
    prompt = build_prompt(task)
    assert prompt.system == SYSTEM
    material = prompt.material
    assert material.startswith("```python\ndef f(x):")
    assert "```util.py\ndef g(): pass\n```" in material and '"framework": "pytest"' in material
    rest = prompt.user[prompt.reusable:]
    assert rest.startswith("Write thorough, runnable unit tests")
    assert "\n\nCover the edge cases.\n" in rest and "def f" not in rest
    assert prompt.result_type == "test-generation"
    assert rest.endswith('"title":"TestGenerationResult","type":"object"}')  # the schema asked


def test_a_task_without_material_has_nothing_reusable() -> None:
    prompt = build_prompt(QETask(type="general", description="Gate it."))
    assert prompt.reusable == 0 and prompt.material == ""
    assert prompt.user.endswith("Gate it.") and prompt.result_type is None  # free text
