"""Tables for people: aligned plain columns when piped, colour on a terminal."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest

from fleet.cli import tables


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_tables_are_plain_aligned_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    tables.table(("model", "tasks", "cost"), [("haiku", 12, Decimal("0.5")),
                                              ("opus", 3, None)], notes=["total 15"])
    lines = out.getvalue().splitlines()
    assert "\x1b[" not in out.getvalue() and all(line == line.rstrip() for line in lines)
    assert [line.split() for line in lines] == [["model", "tasks", "cost"],
                                                ["haiku", "12", "0.5"], ["opus", "3", "—"],
                                                ["total", "15"]]
    # Numbers are right-aligned under their header.
    def end(line: str, cell: str) -> int:
        return line.index(cell) + len(cell)

    assert end(lines[1], "12") == end(lines[2], "3") == end(lines[0], "tasks")


def test_on_a_terminal_states_are_coloured(monkeypatch: pytest.MonkeyPatch) -> None:
    out = Terminal()
    monkeypatch.setattr("sys.stdout", out)
    tables.table(("model", "circuit"), [("opus", "open"), ("haiku", "closed")])
    text = out.getvalue()
    assert "\x1b[1;31mopen" in text and "\x1b[32mclosed" in text


def test_progress_off_a_terminal_only_says_its_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with tables.progress("working") as shown:
        shown.update("still working")
        shown.say("✓ done")
    err = capsys.readouterr().err
    assert err == "✓ done\n"
