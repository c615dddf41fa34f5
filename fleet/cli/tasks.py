"""``fleet submit`` and ``fleet watch``: send a task, follow its stream."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

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


@click.command()
@click.argument("source", required=False)
@click.option("--type", "type_", help="task type, e.g. test-generation")
@click.option("--description")
@click.option("--code-file", type=click.Path(exists=True, path_type=Path))
@click.option("--model", "preferred_model", help="preferred model")
@click.option("--via-dispatch", is_flag=True, help="send to fleet.dispatch instead of routing here")
@click.option("--watch", is_flag=True, help="stream the output until it ends")
def submit(source: str | None, type_: str | None, description: str | None,
           code_file: Path | None, preferred_model: str | None, via_dispatch: bool,
           watch: bool) -> None:
    """Submit a task from a JSON file, stdin (-) or flags; prints its id and selection."""
    from fleet.dispatch.intake import parse_task
    from fleet.dispatch.route import submit as submit_task
    from fleet.dispatch.task import dispatch

    payload = _read_task(source, {"type": type_, "description": description,
                                  "preferred_model": preferred_model,
                                  "code": code_file.read_text() if code_file else None})
    task = parse_task(payload, get_services().config.fleet.max_payload_bytes)
    if via_dispatch:
        selection = dispatch.apply_async(kwargs={"task": task.model_dump(mode="json")}).get(
            timeout=30)
        model = selection["modelName"]
    else:
        chosen = submit_task(task)
        selection = chosen.model_dump(mode="json", by_alias=True)
        model = chosen.model_name
    click.echo(f"{task.id}\t{model}\t{selection['complexity']['overall']:.3f}\t"
               f"{selection['reason']}")
    if watch:
        _watch(task.id)


def _watch(task_id: str, after_seq: int = -1, timeout: float | None = None) -> int:
    from fleet.streaming.subscribe import subscribe

    status = 0
    for event in subscribe(get_services().redis, task_id, after_seq, timeout=timeout):
        if event.type == "chunk":
            click.echo(event.data.get("text", ""), nl=False)
        elif event.type == "start":
            click.echo(click.style(f"[{event.model} attempt {event.data.get('attempt')}]",
                                   fg="cyan"), err=True)
        elif event.type == "complete":
            if "text" in event.data:
                click.echo(event.data["text"], nl=False)
            click.echo("")
            click.echo(click.style(f"[complete: {event.data.get('usage')} "
                                   f"${event.data.get('cost_usd')}]", fg="green"), err=True)
        elif event.type == "error":
            click.echo("")
            click.echo(click.style(f"[error {event.data.get('code')}: "
                                   f"{event.data.get('message')}]", fg="red"), err=True)
            status = 1
        elif event.type == "fallback":
            click.echo(click.style(f"[fallback: {event.data}]", fg="yellow"), err=True)
    return status


@click.command()
@click.argument("task_id")
@click.option("--after-seq", default=-1, help="resume after this sequence number")
@click.option("--timeout", type=float, default=None, help="give up after this much silence (s)")
def watch(task_id: str, after_seq: int, timeout: float | None) -> None:
    """Print a task's stream live; exits on its final event (1 if it failed)."""
    sys.exit(_watch(task_id, after_seq, timeout))
