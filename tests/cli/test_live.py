"""``fleet watch``'s live view, rendered to a fixed-width recording console: the panel (model,
attempt, progress), a fallback as its own line, the streamed text, and the result for a person —
a test file with line numbers, a gate verdict, findings as a table."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from fleet.cli.live import WatchView
from fleet.contracts import StreamEvent


def event(seq: int, type_: str, data: dict[str, Any], model: str = "claude-haiku-4"
          ) -> StreamEvent:
    return StreamEvent(task_id="t-1", seq=seq, type=type_, model=model, data=data,  # type: ignore[arg-type]
                       ts=0.0)


def shown(renderable: Any) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_the_panel_follows_the_stream_and_a_restart_clears_the_text() -> None:
    view = WatchView("t-1")
    view.add(event(0, "start", {"attempt": 1}))
    view.add(event(1, "chunk", {"text": "draft that fails its check"}))
    view.add(event(2, "fallback", {"from": "claude-haiku-4", "to": "claude-sonnet-4.5",
                                   "reason": "validation_failed", "restart": True}))
    view.add(event(3, "chunk", {"text": "def test_add():\n    assert add(1, 2) == 3\n"},
                   "claude-sonnet-4.5"))
    view.add(event(4, "progress", {"percent": 40.0, "tokens": 120}, "claude-sonnet-4.5"))
    text = shown(view.renderable())
    assert "task t-1" in text and "claude-sonnet-4.5" in text and "attempt 1" in text
    assert "validation_failed: claude-haiku-4 → claude-sonnet-4.5 — starting over" in text
    assert "assert add(1, 2) == 3" in text and "draft that fails" not in text


def test_the_result_is_rendered_by_its_kind() -> None:
    view = WatchView("t-1")
    view.add(event(0, "complete", {
        "valid": True, "cost_usd": "0.0123", "tried": ["claude-haiku-4: valid"],
        "usage": {"input_tokens": 900, "output_tokens": 300},
        "verification": {"status": "ran", "passed": 2, "failed": 0, "errors": 0,
                         "coverage_percent": 87.5},
        "result": {"test_file": {"path": "tests/test_add.py",
                                 "content": "def test_add():\n    assert add(1, 2) == 3\n"},
                   "framework": "pytest",
                   "cases": [{"name": "test_add", "checks": "adds"}]}}))
    text = shown(view.outcome())
    assert "tests/test_add.py" in text and "1 def test_add():" in text  # line numbers
    assert "test_add" in text and "adds" in text  # the cases table
    assert "2 passed, 0 failed, 0 errors; line coverage 87.5%" in text
    assert "$0.0123" in text and "tried claude-haiku-4: valid" in text
    gate = WatchView("t-2")
    gate.add(event(0, "complete", {"valid": True, "result": {
        "decision": "FAIL", "reasons": ["coverage 71 < 80"],
        "blocking": [{"rule": "coverage >= 80", "actual": 71, "threshold": 80}]}}))
    gate_text = shown(gate.outcome())
    assert "gate: FAIL" in gate_text and "• coverage 71 < 80" in gate_text
    assert "coverage >= 80" in gate_text and "threshold" in gate_text
    failed = WatchView("t-3")
    failed.add(event(0, "error", {"code": "TASK_004", "name": "TaskCancelled",
                                  "message": "cancelled"}))
    assert "TASK_004 TaskCancelled: cancelled" in shown(failed.outcome())
