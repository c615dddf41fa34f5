"""Cost reports from PostgreSQL: spend by period and dimension (cost rows, and the daily
summaries for days past the rows' retention), and what the same recorded tokens would have
cost on the default model alone (savings from routing)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from fleet.backends.postgres import Database
from fleet.config import FleetConfig
from fleet.contracts import TokenUsage
from fleet.costs.budget.ledger import Period, period_start
from fleet.costs.pricing import estimate, price
from fleet.costs.rollup import summarised_before

ReportPeriod = Literal["day", "week", "month"]
Dimension = Literal["model", "task-type", "agent"]
_COLUMN = {"model": "model", "task-type": "task_type", "agent": "coalesce(agent_id, '-')"}
# Daily summaries keep no agent: the spend of summarised days is reported under this name.
SUMMARISED_AGENT = "(summarised days)"
_LEDGER_PERIOD: dict[ReportPeriod, Period] = {"day": "daily", "week": "weekly",
                                              "month": "monthly"}
_SUMS = "count(*), sum(input_tokens), sum(output_tokens), sum(cached_tokens), " \
        "sum(cache_write_tokens), sum(cost_usd)"


def cost_report(db: Database, config: FleetConfig, period: ReportPeriod, by: Dimension,
                today: date | None = None) -> dict[str, Any]:
    """Spend in the current day / ISO week / month, grouped by ``by``, with the savings
    against running every recorded token on ``routing.defaultModel`` (priced by the same
    function as the rows themselves). Days whose rows are past their retention are read from
    the daily summaries, so a month is always whole."""
    default = config.routing.model(config.routing.default_model)
    assert default is not None
    today = today or datetime.now(UTC).date()
    start = period_start(_LEDGER_PERIOD[period], today)
    end = today + timedelta(days=1)
    boundary = summarised_before(config.routing.cost_tracking, today)
    summary_key = {"model": "model", "task-type": "task_type",
                   "agent": f"'{SUMMARISED_AGENT}'"}[by]
    with db.connection() as conn:
        rows = conn.execute(
            f"""SELECT {_COLUMN[by]}, {_SUMS} FROM cost_entries
                WHERE created_at >= %s AND created_at < %s GROUP BY 1""",
            (datetime.combine(max(start, boundary), datetime.min.time(), UTC),
             datetime.combine(end, datetime.min.time(), UTC))).fetchall()
        rows += conn.execute(
            f"""SELECT {summary_key}, sum(requests), sum(input_tokens), sum(output_tokens),
                       sum(cached_tokens), sum(cache_write_tokens), sum(cost_usd)
                FROM daily_cost_summaries WHERE day >= %s AND day < %s GROUP BY 1""",
            (start, min(end, boundary))).fetchall()
        used = {str(r[0]) for r in conn.execute(
            """SELECT DISTINCT model FROM cost_entries WHERE created_at >= %s
               UNION SELECT DISTINCT model FROM daily_cost_summaries WHERE day >= %s""",
            (datetime.combine(start, datetime.min.time(), UTC), start)).fetchall()}
    # The quality-equivalent baseline: everything on the strongest model the period used.
    strongest = max((m for m in config.routing.models if m.name in used),
                    key=lambda m: estimate(m, 1000, 1000), default=default)
    totals: dict[str, list[Decimal]] = {}
    for row in rows:
        sums = totals.setdefault(str(row[0]), [Decimal(0)] * 6)
        for k in range(6):
            sums[k] += Decimal(str(row[k + 1] or 0))
    groups: list[dict[str, Any]] = sorted((
        {by: key, "requests": int(n), "input_tokens": int(tin), "output_tokens": int(tout),
         "cached_tokens": int(cached), "cost_usd": cost,
         "single_model_cost_usd": price(usage := TokenUsage(
             input_tokens=int(tin), output_tokens=int(tout), cached_tokens=int(cached),
             cache_write_tokens=int(written)), default),
         "strongest_model_cost_usd": price(usage, strongest)}
        for key, (n, tin, tout, cached, written, cost) in totals.items()),
        key=lambda g: (-g["cost_usd"], g[by]))
    actual: Decimal = sum((g["cost_usd"] for g in groups), Decimal(0))
    single: Decimal = sum((g["single_model_cost_usd"] for g in groups), Decimal(0))
    strong: Decimal = sum((g["strongest_model_cost_usd"] for g in groups), Decimal(0))
    return {"period": period, "by": by, "groups": groups, "total_cost_usd": actual,
            "single_model": default.name, "single_model_cost_usd": single,
            "savings_usd": single - actual,
            "savings_percent": round(float((single - actual) / single * 100), 2)
            if single else 0.0,
            "strongest_model": strongest.name, "strongest_model_cost_usd": strong,
            "savings_vs_strongest_usd": strong - actual,
            "savings_vs_strongest_percent": round(float((strong - actual) / strong * 100), 2)
            if strong else 0.0}


def savings_lines(report: dict[str, Any]) -> list[str]:
    """The savings against both baselines, in words: never a bare negative "saved"."""
    total, period = report["total_cost_usd"], report["period"]
    lines = [f"total ${total} this {period}"]
    for label, model, cost, saved, percent in (
            ("the default model", report["single_model"], report["single_model_cost_usd"],
             report["savings_usd"], report["savings_percent"]),
            ("the strongest model used", report["strongest_model"],
             report["strongest_model_cost_usd"], report["savings_vs_strongest_usd"],
             report["savings_vs_strongest_percent"])):
        verdict = (f"routing saved ${saved} ({percent}%)" if saved >= 0 else
                   f"routing cost ${-saved} more ({-percent}%): harder tasks went to stronger "
                   "models")
        lines.append(f"everything on {label} ({model}) would have cost ${cost}: {verdict}")
    return lines


def render(report: dict[str, Any], fmt: Literal["json", "csv"]) -> str:
    """The report for a script: one JSON document, or CSV rows (one per group)."""
    if fmt == "json":
        return json.dumps(report, default=str, indent=2)
    header = [report["by"], "requests", "input_tokens", "output_tokens", "cached_tokens",
              "cost_usd", "single_model_cost_usd", "strongest_model_cost_usd"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for g in report["groups"]:
        writer.writerow([g[h] for h in header])
    return out.getvalue()
