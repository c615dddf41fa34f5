"""The ``fleet`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import yaml

from fleet.config import get_config, get_settings, load_config, masked_dump, migrate_v104, read_yaml
from fleet.errors import FleetError


class FleetGroup(click.Group):
    """Turns fleet errors into one clear line and exit code 2 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FleetError as exc:
            click.echo(f"fleet: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=FleetGroup)
def main() -> None:
    """qe-fleet: route QE tasks to the cheapest capable model, stream and price them."""


@main.command()
def migrate() -> None:
    """Create the database if missing and migrate it to the latest schema."""
    from fleet.migrate import migrate as run

    created = run()
    click.echo(("created database; " if created else "") + "schema is at head")


@main.command()
def schema() -> None:
    """Print the JSON Schema of QETask."""
    from fleet.models import QETask

    click.echo(json.dumps(QETask.model_json_schema(), indent=2))


@main.group()
def config() -> None:
    """Validate or migrate configuration."""


@config.command("check")
@click.option("--file", "path", type=click.Path(path_type=Path), default=None)
def config_check(path: Path | None) -> None:
    """Validate the config and print it, secrets masked."""
    cfg = load_config(path) if path else get_config()
    click.echo(json.dumps(masked_dump(cfg, get_settings()), indent=2))


@config.command("migrate")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
def config_migrate(old: Path) -> None:
    """Migrate a v1.0.4 config to v1.0.5 (seed §9.3); prints the new YAML."""
    click.echo(yaml.safe_dump(migrate_v104(read_yaml(old)), sort_keys=False))


def _read_task(source: str | None, fields: dict[str, Any]) -> dict[str, Any]:
    if source == "-":
        payload: dict[str, Any] = json.loads(sys.stdin.read())
    elif source:
        payload = json.loads(Path(source).read_text())
    else:
        payload = {}
    payload.update({k: v for k, v in fields.items() if v is not None})
    return payload


@main.command()
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
    from fleet.dispatch import dispatch, parse_task
    from fleet.dispatch import submit as submit_task

    payload = _read_task(source, {"type": type_, "description": description,
                                  "preferred_model": preferred_model,
                                  "code": code_file.read_text() if code_file else None})
    task = parse_task(payload)
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
    from fleet.stream import subscribe

    status = 0
    for event in subscribe(task_id, after_seq, timeout=timeout):
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


@main.command()
@click.argument("task_id")
@click.option("--after-seq", default=-1, help="resume after this sequence number")
@click.option("--timeout", type=float, default=None, help="give up after this much silence (s)")
def watch(task_id: str, after_seq: int, timeout: float | None) -> None:
    """Print a task's stream live; exits on its final event (1 if it failed)."""
    sys.exit(_watch(task_id, after_seq, timeout))


@main.group(invoke_without_command=True)
@click.pass_context
def costs(ctx: click.Context) -> None:
    """Daily cost summary (rolls up new rows first); `fleet costs report` for more."""
    if ctx.invoked_subcommand is not None:
        return
    from beat.tasks import aggregate_costs_now
    from fleet import db

    aggregate_costs_now()
    with db.connection() as conn:
        rows: list[tuple[Any, ...]] = conn.execute(
            "SELECT day, model, task_type, requests, input_tokens, output_tokens, cost_usd "
            "FROM daily_cost_summaries ORDER BY day, model, task_type").fetchall()
    header = ("day", "model", "task_type", "requests", "input", "output", "cost_usd")
    table = [header, *[tuple(str(v) for v in r) for r in rows]]
    total = sum((r[6] for r in rows), start=0)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    click.echo(f"total: {len(rows)} groups, {sum(int(r[3]) for r in rows)} requests, "
               f"${total}")


@costs.command("report")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="day")
@click.option("--by", "by", type=click.Choice(["model", "task-type", "agent"]), default="model")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def costs_report(period: str, by: str, fmt: str) -> None:
    """Spend this day / week / month by model, task type or agent, and the savings against
    running the same recorded tokens on the default model alone."""
    from fleet.reports import cost_report, render

    report = cost_report(get_config(), period, by)  # type: ignore[arg-type]
    click.echo(render(report, fmt))  # type: ignore[arg-type]


@main.command()
def budget() -> None:
    """Budget status (the seed's budgetStatus shape) and reservations in flight."""
    from fleet.budget import RESERVATIONS, get_ledger

    ledger = get_ledger()
    status = ledger.status()
    status["reservationsInFlight"] = int(ledger.client.hlen(RESERVATIONS))  # type: ignore[arg-type]
    status["onLimit"] = ledger.settings.on_limit
    click.echo(json.dumps(status, indent=2))


@main.command()
@click.argument("names", nargs=-1)
def bench(names: tuple[str, ...]) -> None:
    """Run the benchmarks in bench/ (from a source checkout) and print a markdown table."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "__main__.py").exists():
        raise click.ClickException("bench/ is not here: run from a source checkout")
    sys.exit(subprocess.call([sys.executable, "-m", "bench", *names], cwd=root))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True)
def gateway(host: str, port: int) -> None:
    """Serve the HTTP gateway (POST /v1/tasks, GET /v1/tasks/ID[/events], /healthz)."""
    import uvicorn

    from fleet.gateway import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level="info")


def _register_subgroups() -> None:
    from fleet.cli_routing import flags, models, routing

    for group in (routing, flags, models):
        main.add_command(group)


_register_subgroups()


if __name__ == "__main__":
    main()
