"""``fleet submit`` and ``fleet watch``: send a task, follow its stream."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from fleet.cli.render import render_outcome, summary_line
from fleet.cli.tables import progress
from fleet.services import get_services


def _read_task(source: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    if source == "-":
        payload: dict[str, Any] = json.loads(sys.stdin.read())
    elif source:
        payload = json.loads(Path(source).read_text())
    else:
        payload = {}
    payload.update({k: v for k, v in fields.items() if v is not None})
    return payload


def _attach(payload: dict[str, Any], files: tuple[Path, ...], root: Path,
            coverage_report: Path | None, context_items: tuple[str, ...], verify: bool) -> None:
    """Add the files, report and context entries given as options to the task."""
    for path in files:
        relative = path.resolve().relative_to(root.resolve()).as_posix() \
            if path.resolve().is_relative_to(root.resolve()) else path.as_posix()
        payload.setdefault("files", []).append({"path": relative,
                                                "content": path.read_text()})
    context = payload.setdefault("context", {})
    if coverage_report is not None:
        text = coverage_report.read_text()
        context["coverage"] = json.loads(text) if text.lstrip().startswith("{") else text
    for item in context_items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=JSON, got {item!r}", param_hint="--context")
        try:
            context[key] = json.loads(raw)
        except ValueError:
            context[key] = raw  # a plain string
    if verify:
        context["verify"] = "run"


@click.command()
@click.argument("source", required=False)
@click.option("--type", "type_", help="task type, e.g. test-generation")
@click.option("--description")
@click.option("--code-file", type=click.Path(exists=True, path_type=Path))
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="attach a source file (repeatable); its path is kept relative to --root")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("."), show_default=True)
@click.option("--coverage", "coverage_report", type=click.Path(exists=True, path_type=Path),
              help="a coverage report (coverage.py JSON, Cobertura XML, lcov) as context")
@click.option("--context", "context_items", multiple=True, metavar="KEY=JSON",
              help="a context entry, e.g. metrics='{\"coverage\": 81}' (repeatable)")
@click.option("--verify", is_flag=True, help="run generated tests in the sandbox")
@click.option("--model", "preferred_model", help="preferred model")
@click.option("--via-dispatch", is_flag=True, help="send to fleet.dispatch instead of routing here")
@click.option("--watch", is_flag=True, help="stream the output until it ends")
@click.option("--json", "as_json", is_flag=True,
              help="the task id and its model selection as one JSON document")
def submit(source: str | None, type_: str | None, description: str | None,
           code_file: Path | None, files: tuple[Path, ...], root: Path,
           coverage_report: Path | None, context_items: tuple[str, ...], verify: bool,
           preferred_model: str | None, via_dispatch: bool, watch: bool,
           as_json: bool) -> None:
    """Submit a task from a JSON file, stdin (-) or flags; prints its id and selection."""
    from fleet.dispatch.intake import parse_task
    from fleet.dispatch.route import submit as submit_task
    from fleet.dispatch.task import dispatch

    payload = _read_task(source, {"type": type_, "description": description,
                                  "preferred_model": preferred_model,
                                  "code": code_file.read_text() if code_file else None})
    _attach(payload, files, root, coverage_report, context_items, verify)
    task = parse_task(payload, get_services().config.fleet.max_payload_bytes)
    if via_dispatch:
        selection = dispatch.apply_async(kwargs={"task": task.model_dump(mode="json")}).get(
            timeout=30)
        model = selection["modelName"]
    else:
        chosen = submit_task(task)
        selection = chosen.model_dump(mode="json", by_alias=True)
        model = chosen.model_name
    if as_json:
        click.echo(json.dumps({"task_id": task.id, "selection": selection}))
    else:
        click.echo(f"{task.id}\t{model}\t{selection['complexity']['overall']:.3f}\t"
                   f"{selection['reason']}")
    if watch:
        sys.exit(_watch(task.id, as_json=as_json))


def _watch(task_id: str, after_seq: int = -1, timeout: float | None = None,
           as_json: bool = False) -> int:
    from fleet.streaming.subscribe import read_log, subscribe

    status = 0
    if not read_log(get_services().redis, task_id, after_seq):  # say so, not a silent wait
        click.echo(f"waiting for the first event of {task_id}"
                   + (f" (up to {timeout:g} s)" if timeout else " (Ctrl-C to stop)"), err=True)
    if not as_json and sys.stdout.isatty():
        return _watch_live(task_id, after_seq, timeout)
    for event in subscribe(get_services().redis, task_id, after_seq, timeout=timeout):
        if as_json:  # JSON lines, one event each, for scripts
            click.echo(event.model_dump_json())
            status = 1 if event.type == "error" else status
        elif event.type == "chunk":
            click.echo(event.data.get("text", ""), nl=False)
        elif event.type == "start":
            click.echo(click.style(f"[{event.model} attempt {event.data.get('attempt')}]",
                                   fg="cyan"), err=True)
        elif event.type == "complete":
            if "text" in event.data and "result" not in event.data:
                click.echo(event.data["text"], nl=False)
            click.echo("")
            if "result" in event.data:
                click.echo(render_outcome(event.data))
            click.echo(click.style(summary_line(event.data), fg="green"), err=True)
        elif event.type == "error":
            click.echo("")
            click.echo(click.style(f"[error {event.data.get('code')}: "
                                   f"{event.data.get('message')}]", fg="red"), err=True)
            status = 1
        elif event.type == "fallback":
            data = event.data
            if data.get("restart"):
                click.echo("")
            click.echo(click.style(f"[{data.get('reason')}: {data.get('from')} → {data.get('to')}"
                                   + (f" ({data['detail']})" if data.get("detail") else "")
                                   + ("; starting over" if data.get("restart") else "") + "]",
                                   fg="yellow"), err=True)
    return status


def _watch_live(task_id: str, after_seq: int, timeout: float | None) -> int:
    """The live panel (fleet/cli/live.py), on a terminal."""
    from rich.console import Console
    from rich.live import Live

    from fleet.cli.live import WatchView
    from fleet.streaming.subscribe import subscribe

    view, console = WatchView(task_id), Console()
    with Live(view.renderable(), console=console, refresh_per_second=8) as live:
        for event in subscribe(get_services().redis, task_id, after_seq, timeout=timeout):
            view.add(event)
            live.update(view.renderable())
    console.print(view.outcome())
    return 1 if view.final is not None and view.final.type == "error" else 0


@click.command()
@click.argument("task_id")
@click.option("--after-seq", default=-1, help="resume after this sequence number")
@click.option("--timeout", type=float, default=None, help="give up after this much silence (s)")
@click.option("--json", "as_json", is_flag=True, help="the events as JSON lines")
def watch(task_id: str, after_seq: int, timeout: float | None, as_json: bool) -> None:
    """Print a task's stream live; exits on its final event (1 if it failed)."""
    sys.exit(_watch(task_id, after_seq, timeout, as_json))


@click.command()
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="the whole outcome as JSON")
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="wait this long for the task to end")
def result(task_id: str, as_json: bool, timeout: float) -> None:
    """Print a finished task's structured result readably (waits for it to end)."""
    from fleet.streaming.subscribe import subscribe

    final = None
    with progress(f"waiting for {task_id} to end", enabled=not as_json) as shown:
        for event in subscribe(get_services().redis, task_id, -1, timeout=timeout):
            shown.update(f"waiting for {task_id} to end: {event.type} "
                         f"{event.model or ''} (event {event.seq})")
            if event.final:
                final = event
    if final is None:
        raise click.ClickException(f"task {task_id} has not ended within {timeout:g} s")
    if final.type == "error":
        raise click.ClickException(f"{final.data.get('code')}: {final.data.get('message')}")
    if as_json:
        click.echo(json.dumps(final.data, indent=2))
        return
    click.echo(render_outcome(final.data) if "result" in final.data
               else final.data.get("text", ""))
    click.echo(summary_line(final.data))
