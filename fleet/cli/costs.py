"""``fleet costs`` and ``fleet budget``: what was spent, and what is left."""

from __future__ import annotations

import json
from typing import Any

import click

from fleet.services import get_services


@click.group(invoke_without_command=True)
@click.pass_context
def costs(ctx: click.Context) -> None:
    """Daily cost summary (rolls up new rows first); `fleet costs report` for more."""
    if ctx.invoked_subcommand is not None:
        return
    from fleet.costs.rollup import aggregate_costs

    db = get_services().db
    aggregate_costs(db)
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
    from fleet.costs.reports import cost_report, render

    services = get_services()
    report = cost_report(services.db, services.config, period, by)  # type: ignore[arg-type]
    click.echo(render(report, fmt))  # type: ignore[arg-type]


@click.command()
def budget() -> None:
    """Budget status (the seed's budgetStatus shape) and reservations in flight."""
    from fleet import views

    click.echo(json.dumps(views.budget(get_services()), indent=2))
