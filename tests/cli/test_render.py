"""Structured results printed for a person: the check and the sandboxed run first, records as
bullets, short lists inline, a test file as an indented block."""

from __future__ import annotations

import click

from fleet.cli.render import render_outcome, summary_line


def test_a_checked_result_reads_as_an_outline() -> None:
    text = render_outcome({
        "valid": True, "tried": ["claude-haiku-4: no JSON object", "claude-sonnet-4.5: valid"],
        "verification": {"status": "ran", "passed": 3, "failed": 1, "errors": 0,
                         "coverage_percent": 87.5},
        "result": {"test_file": {"path": "tests/test_x.py",
                                 "content": "def test_a():\n    pass\n"},
                   "gaps": [{"file": "x.py", "lines": [3, 4], "why": "the error path"}],
                   "blocking": []}})
    assert click.unstyle(text).splitlines() == [
        "result (valid; tried claude-haiku-4: no JSON object, claude-sonnet-4.5: valid)",
        "tests run in the sandbox: 3 passed, 1 failed, 0 errors; "
        "the code's line coverage 87.5%",
        "  test_file:", "    path: tests/test_x.py", "    content: |",
        "      def test_a():", "          pass",
        "  gaps:", "    - file: x.py", "      lines: 3, 4", "      why: the error path",
        "  blocking: (none)"]


def test_an_invalid_result_and_a_refused_run_say_why() -> None:
    text = render_outcome({"valid": False, "problem": "cases missing", "tried": ["m: x"],
                           "verification": {"status": "refused", "detail": "no unshare"},
                           "result": None})
    assert "NOT valid: cases missing" in text and "tests not run: refused (no unshare)" in text


def test_the_summary_line_names_model_tokens_and_cost_or_the_rules() -> None:
    assert summary_line({"model": "m", "usage": {"input_tokens": 5, "output_tokens": 7},
                         "cost_usd": "0.01"}) == "[complete: m, 5 in / 7 out tokens, $0.01]"
    assert "decided by its rules" in summary_line({"tried": ["rules"], "model": "m"})
