"""The wire shapes: QETask's published schema."""

from __future__ import annotations

import json

from fleet.contracts import QETask, StreamEvent, queue_for


def test_schema_is_json_schema_of_qetask() -> None:
    schema = QETask.model_json_schema()
    assert set(schema["required"]) == {"type", "description"}
    assert "test-generation" in json.dumps(schema)


def test_a_task_lists_its_code_with_language_or_path_hints() -> None:
    task = QETask(type="test-generation", description="x", code="def f(): pass",
                  language="python", files=[{"path": "a.js", "content": "f()"},
                                            {"path": "empty.py"}])
    assert task.all_code() == [("python", "def f(): pass"), ("a.js", "f()")]


def test_only_complete_and_error_end_a_stream() -> None:
    def event(type_: str) -> StreamEvent:
        return StreamEvent(task_id="t", seq=0, type=type_, model="m", ts=0.0)  # type: ignore[arg-type]

    assert [t for t in ("start", "chunk", "progress", "fallback", "complete", "error")
            if event(t).final] == ["complete", "error"]
    assert queue_for("claude-haiku-4") == "model.claude-haiku-4"
