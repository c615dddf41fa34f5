"""A conversation as a fleet task: chat messages (OpenAI's shape) become a ``general`` task
whose description is the conversation's text (what routing scores) and whose prompt carries
the turns; system messages join the system prompt."""

from __future__ import annotations

from typing import Any

from fleet.contracts import MAX_TEXT, QETask, TaskType

CHAT_SYSTEM = "You are a helpful assistant in an automated quality-engineering fleet."


def prompt_text(value: Any) -> str:
    """The text of a prompt given as a string, a list of turns (a multi-turn chat), or chat
    messages (``{"role", "content"}``, content as a string or a list of ``{"text"}`` parts);
    turns are joined with blank lines, so code and paragraphs keep their shape."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(t for t in (prompt_text(v) for v in value) if t)
    if isinstance(value, dict):
        for key in ("content", "text", "prompt"):
            if key in value:
                return prompt_text(value[key])
        return ""
    return "" if value is None else str(value)


def chat_task(messages: list[dict[str, Any]], **fields: Any) -> QETask:
    """A general task for ``messages``; ``fields`` are the task's others (id, model…)."""
    text = prompt_text([m for m in messages if m.get("role") not in ("system", "developer")])
    return QETask(type=TaskType.GENERAL, description=text[:MAX_TEXT] if text.strip() else " ",
                  context={"messages": messages}, **fields)


def chat_prompt(messages: list[dict[str, Any]]) -> tuple[str, str]:
    """(system, user) for a conversation: the system messages, then the turns so far, each
    marked with its role, ending with the one to answer."""
    system = "\n\n".join(prompt_text(m) for m in messages
                         if m.get("role") in ("system", "developer")) or CHAT_SYSTEM
    turns = [m for m in messages if m.get("role") not in ("system", "developer")]
    if len(turns) == 1:
        return system, prompt_text(turns[0])
    transcript = "\n\n".join(f"[{m.get('role', 'user')}]\n{prompt_text(m)}" for m in turns)
    return system, (f"The conversation so far:\n\n{transcript}\n\n"
                    f"Reply to the last {turns[-1].get('role', 'user')} message.")
