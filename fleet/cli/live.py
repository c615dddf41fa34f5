"""``fleet watch`` on a terminal: a live panel (model, attempt, progress, tokens/s, elapsed) above
the streamed text, fallbacks as highlighted lines, and at the end the task's checked result
rendered for a person — a test file with syntax highlighting, a gate verdict in colour, findings
as a table."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from fleet.contracts import StreamEvent

VERDICT_STYLE = {"PASS": "bold green", "WARN": "bold yellow", "FAIL": "bold red"}
TEXT_LINES = 30  # the end of the streamed text the panel keeps in view


class WatchView:
    """The state of one watched stream, and how it looks."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.model = "…"
        self.attempt = 0
        self.percent = 0.0
        self.tokens = 0
        self.started = time.monotonic()
        self.text = ""
        self.notes: list[Text] = []
        self.final: StreamEvent | None = None

    def add(self, event: StreamEvent) -> None:
        data = event.data
        if event.type == "start":
            self.model, self.attempt = event.model, int(data.get("attempt", 1))
        elif event.type == "chunk":
            self.text += str(data.get("text", ""))
        elif event.type == "progress":
            self.percent = float(data.get("percent", self.percent))
            self.tokens = int(data.get("tokens", self.tokens))
        elif event.type == "fallback":
            restart = " — starting over" if data.get("restart") else ""
            self.notes.append(Text(f"{data.get('reason')}: {data.get('from')} → "
                                   f"{data.get('to')}{restart}", style="bold yellow"))
            if data.get("restart"):
                self.text = ""
            self.model = str(data.get("to", self.model))
        else:
            self.final = event
            if event.type == "complete":
                self.percent = 100.0

    def header(self) -> Panel:
        elapsed = time.monotonic() - self.started
        rate = self.tokens / elapsed if elapsed > 0 and self.tokens else 0.0
        grid = Table.grid(padding=(0, 2))
        grid.add_row(Text(self.model, style="bold cyan"), f"attempt {self.attempt}",
                     f"{rate:,.0f} tokens/s", f"{elapsed:,.1f} s")
        return Panel(Group(grid, ProgressBar(total=100, completed=self.percent, width=60)),
                     title=f"task {self.task_id}", title_align="left")

    def renderable(self) -> RenderableType:
        shown = "\n".join(self.text.splitlines()[-TEXT_LINES:])
        return Group(self.header(), *self.notes, Text(shown))

    def outcome(self) -> RenderableType:
        """The final event, for a person: the result by its kind, then cost and tries."""
        if self.final is None:
            return Text("the stream ended without a final event", style="red")
        data = self.final.data
        if self.final.type == "error":
            return Text(f"{data.get('code')} {data.get('name')}: {data.get('message')}",
                        style="bold red")
        parts: list[RenderableType] = []
        result = data.get("result")
        if isinstance(result, dict):
            parts += result_renderables(result)
        elif data.get("text"):
            parts.append(Text(str(data["text"])))
        if data.get("valid") is False:
            parts.append(Text(f"NOT valid: {data.get('problem')}", style="bold red"))
        run = data.get("verification")
        if run and run.get("status") == "ran":
            parts.append(Text(f"tests run in the sandbox: {run['passed']} passed, "
                              f"{run['failed']} failed, {run['errors']} errors; line coverage "
                              f"{run['coverage_percent']}%", style="bold"))
        usage = data.get("usage") or {}
        parts.append(Text(f"{self.final.model} · {usage.get('input_tokens', 0)} in / "
                          f"{usage.get('output_tokens', 0)} out tokens · ${data.get('cost_usd')}"
                          + (f" · tried {', '.join(data['tried'])}" if data.get("tried")
                             else ""), style="green"))
        return Group(*parts)


def result_renderables(result: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = []
    if "decision" in result:
        out.append(Text(f"gate: {result['decision']}",
                        style=VERDICT_STYLE.get(str(result["decision"]), "bold")))
        out += [Text(f"  • {reason}") for reason in result.get("reasons", [])]
    test_file = result.get("test_file")
    if isinstance(test_file, dict):
        lexer = "python" if str(test_file.get("path", "")).endswith(".py") else "text"
        out.append(Panel(Syntax(str(test_file.get("content", "")), lexer, line_numbers=True),
                         title=str(test_file.get("path", "")), title_align="left"))
    for key, value in result.items():
        if key in ("decision", "reasons", "test_file") or not isinstance(value, list) \
                or not value or not all(isinstance(v, dict) for v in value):
            continue
        table = Table(title=key, title_justify="left")
        columns = list(dict.fromkeys(k for row in value for k in row))
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in value:
            table.add_row(*(_cell(row.get(c)) for c in columns))
        out.append(table)
    for key, value in result.items():
        if isinstance(value, str) and key not in ("decision",):
            out.append(Text(f"{key}: {value}"))
    return out


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)
