"""``test-generation``: a test file for the given code, checked without running it (it parses,
it names the code under test, every case it lists is in it); ``fleet.qe.verify`` runs it."""

from __future__ import annotations

import ast
import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field

from fleet.contracts import QETask, TaskType
from fleet.qe.spec import Inputs, Result, TaskSpec


class TestGenerationInputs(Inputs):
    framework: str | None = Field(default=None, max_length=40,
                                  description="pytest, unittest, jest, junit…")
    verify: Literal["run", "off"] | None = Field(default=None, description=(
        "run the generated tests in a sandbox (Python); default: the config's qe.verify"))


class TestFile(Result):
    __test__ = False  # not a pytest class
    path: str = Field(min_length=1, max_length=1024)
    content: str = Field(min_length=1, max_length=1 << 20)


class TestCase(Result):
    __test__ = False
    name: str = Field(min_length=1, max_length=200)
    checks: str = Field(default="", max_length=2000, description="what the case checks")


class TestGenerationResult(Result):
    __test__ = False
    test_file: TestFile
    framework: str = Field(min_length=1, max_length=40)
    cases: list[TestCase] = Field(min_length=1, max_length=500)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INLINE_MODULE = "code_under_test"  # what inline code is importable as


def module_name(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def code_files(task: QETask) -> dict[str, str]:
    """The code under test as files: the task's Python files, and its inline code as
    ``code_under_test.py``."""
    files = {f.path: f.content for f in task.files if f.path.endswith(".py")}
    if task.code and (task.language or "python").lower() in ("python", "py"):
        files[f"{INLINE_MODULE}.py"] = task.code
    return files


def import_hint(task: QETask) -> str:
    """How the generated tests import the code under test (the prompt says so)."""
    modules = sorted({module_name(path) for path in code_files(task)} - {""})
    if not modules:
        return ""
    return ("The code under test is importable as: " + ", ".join(f"`{m}`" for m in modules)
            + " (tests run from the project root with it and src/ on sys.path).")



def _defined_names(task: QETask) -> set[str]:
    """Functions and classes the code under test defines (Python), else its identifiers."""
    names: set[str] = set()
    for _, source in task.all_code():
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            names.update(_WORD.findall(source))
            continue
        names.update(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                     and not node.name.startswith("_"))
    return names


def validate(result: TestGenerationResult, task: QETask) -> list[str]:
    content, problems = result.test_file.content, []
    python = result.test_file.path.endswith(".py") or result.framework in ("pytest", "unittest")
    if python:
        try:
            ast.parse(content)
        except SyntaxError as exc:
            problems.append(f"the test file does not parse: line {exc.lineno}: {exc.msg}")
    names = _defined_names(task)
    if names and not names & set(_WORD.findall(content)):
        problems.append("the test file names none of the code under test "
                        f"({', '.join(sorted(names)[:5])})")
    missing = [case.name for case in result.cases if case.name not in content]
    if missing:
        problems.append(f"cases listed but not in the file: {', '.join(missing[:10])}")
    return problems


SPEC = TaskSpec(TaskType.TEST_GENERATION, TestGenerationResult, validate,
                inputs=TestGenerationInputs, brief=import_hint)
