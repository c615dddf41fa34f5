"""``fleet costs`` and ``fleet budget``: what was spent, and what is left."""

from __future__ import annotations

from typing import Any

import click

from fleet.cli.tables import dump, table
from fleet.services import get_services


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
@click.pass_context
def costs(ctx: click.Context, as_json: bool) -> None:
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
    header = ("day", "model", "task_type", "requests", "input_tokens", "output_tokens",
              "cost_usd")
    if as_json:
        dump({"days": [dict(zip(header, r, strict=True)) for r in rows]})
        return
    table(header, rows, notes=[f"total: {len(rows)} groups, {sum(int(r[3]) for r in rows)} "
                               f"requests, ${sum((r[6] for r in rows), start=0)}"])


@costs.command("report")
@click.option("--period", type=click.Choice(["day", "week", "month"]), default="day")
@click.option("--by", "by", type=click.Choice(["model", "task-type", "agent"]), default="model")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
def costs_report(period: str, by: str, fmt: str) -> None:
    """Spend this day / week / month by model, task type or agent, and the savings against
    running the same recorded tokens on the default model and on the strongest model used."""
    from fleet.costs.reports import cost_report, render, savings_lines

    services = get_services()
    report = cost_report(services.db, services.config, period, by)  # type: ignore[arg-type]
    if fmt != "table":
        click.echo(render(report, fmt))  # type: ignore[arg-type]
        return
    header = (by, "requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd",
              "single_model_cost_usd", "strongest_model_cost_usd")
    table(header, ([g[h] for h in header] for g in report["groups"]),
          notes=savings_lines(report))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON document")
def budget(as_json: bool) -> None:
    """Budget status per period (the seed's budgetStatus shape with --json) and reservations
    in flight."""
    from fleet import views

    status = views.budget(get_services())
    if as_json:
        dump(status)
        return
    periods = ("daily", "weekly", "monthly")
    table(("period", "used_usd", "reserved_usd", "limit_usd", "used"),
          ([p, status[p]["used"], status[p]["reserved"], status[p]["limit"],
            None if status[p]["percentUsed"] is None else f"{status[p]['percentUsed']:.1f}%"]
           for p in periods),
          notes=[f"{status['reservationsInFlight']} reservations in flight; at the limit: "
                 f"{status['onLimit']}"])
