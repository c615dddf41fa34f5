"""Tables and progress for people: rich on a terminal (borders, colour, a spinner), plain
aligned columns when piped, so ``grep`` and ``awk`` still work; scripts use ``--json``."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.status import Status
from rich.table import Table
from rich.text import Text

# Words that carry a state, coloured by what they mean to an operator.
STYLES = {"on": "green", "enabled": "green", "closed": "green", "workers": "green",
          "off": "dim", "disabled": "yellow", "half-open": "yellow", "no workers": "yellow",
          "open": "bold red"}


def console(err: bool = False) -> Console:
    """A console on stdout (or stderr); wide and colourless when not a terminal."""
    stream = sys.stderr if err else sys.stdout
    return Console(file=stream, highlight=False, width=None if stream.isatty() else 200)


def cell(value: Any) -> Text:
    if value is None:
        return Text("—", style="dim")
    text = str(value)
    return Text(text, style=STYLES.get(text, ""))


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
          notes: Sequence[str] = ()) -> None:
    """Print ``rows`` under ``columns`` (numbers right-aligned), then ``notes`` as lines."""
    out = console()
    rows = [list(r) for r in rows]
    grid = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD if out.is_terminal
                 else None, pad_edge=False, show_edge=False, header_style="bold")
    for i, name in enumerate(columns):
        numeric = bool(rows) and all(_numeric(r[i]) or r[i] is None for r in rows)
        grid.add_column(name, justify="right" if numeric else "left", no_wrap=True)
    for row in rows:
        grid.add_row(*(cell(v) for v in row))
    if out.is_terminal:
        out.print(grid)
    else:  # no padding after the last cell when piped
        with out.capture() as captured:
            out.print(grid)
        out.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    for line in notes:
        out.print(line)


def dump(document: Any) -> None:
    """One JSON document on stdout: money and dates as strings."""
    click.echo(json.dumps(document, default=str))


class Progress:
    """What a long operation tells a person on stderr: a spinner with the current step on a
    terminal (lines printed above it), the lines alone otherwise."""

    def __init__(self, err: Console, status: Status | None) -> None:
        self._err, self._status = err, status

    def update(self, message: str) -> None:
        if self._status is not None:
            self._status.update(message)

    def say(self, message: str, style: str = "") -> None:
        self._err.print(Text(message, style=style))


@contextlib.contextmanager
def progress(message: str, enabled: bool = True) -> Iterator[Progress]:
    """A spinner with ``message`` on stderr while the block runs (on a terminal, if
    ``enabled``: not while other output streams below it)."""
    err = console(err=True)
    if not (enabled and err.is_terminal):
        yield Progress(err, None)
        return
    with err.status(message) as status:
        yield Progress(err, status)
