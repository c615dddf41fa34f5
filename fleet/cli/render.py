"""A structured result as a person reads it in a terminal: fields as lines, records as
bullets, multi-line text (a test file) as an indented block; the check and the sandboxed run
on top."""

from __future__ import annotations

from typing import Any

import click

INDENT = "  "


def _scalar(value: Any) -> str:
    return "—" if value is None else str(value)


def _lines(value: Any, depth: int) -> list[str]:
    pad = INDENT * depth
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            if isinstance(item, list) and item and not any(isinstance(i, dict | list)
                                                            for i in item) \
                    and all(len(str(i)) < 40 for i in item):
                out.append(f"{pad}{key}: {', '.join(_scalar(i) for i in item)}")
            elif isinstance(item, dict | list) and item:
                out += [f"{pad}{key}:", *_lines(item, depth + 1)]
            elif isinstance(item, str) and "\n" in item:
                out += [f"{pad}{key}: |", *(f"{pad}{INDENT}{line}" for line in
                                             item.rstrip("\n").splitlines())]
            else:
                out.append(f"{pad}{key}: {_scalar(item) if item != [] else '(none)'}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict) and item:
                first, *rest = _lines(item, depth + 1)
                out += [f"{pad}- {first.strip()}", *rest]
            else:
                out.append(f"{pad}- {_scalar(item)}")
        return out
    return [f"{pad}{_scalar(value)}"]


def render_outcome(data: dict[str, Any]) -> str:
    """The ``complete`` event (or task result) of a checked task, readably."""
    out = []
    valid = data.get("valid")
    if valid is not None:
        verdict = click.style("valid", fg="green") if valid else click.style(
            f"NOT valid: {data.get('problem')}", fg="red")
        out.append(f"result ({verdict}; tried {', '.join(data.get('tried') or [])})")
    run = data.get("verification")
    if run:
        if run.get("status") == "ran":
            out.append(f"tests run in the sandbox: {run['passed']} passed, {run['failed']} "
                       f"failed, {run['errors']} errors; the code's line coverage "
                       f"{run['coverage_percent']}%")
        else:
            out.append(f"tests not run: {run.get('status')} ({run.get('detail')})")
    if data.get("result") is not None:
        out += _lines(data["result"], 1)
    return "\n".join(out)


def summary_line(data: dict[str, Any]) -> str:
    if data.get("tried") == ["rules"]:
        return "[complete: decided by its rules, no model called, $0]"
    usage = data.get("usage") or {}
    return (f"[complete: {data.get('model')}, {usage.get('input_tokens', 0)} in / "
            f"{usage.get('output_tokens', 0)} out tokens, ${data.get('cost_usd')}]")
