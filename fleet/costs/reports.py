"""Cost reports from PostgreSQL rows: spend by period and dimension, and what the same
recorded tokens would have cost on the default model alone (savings from routing)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any, Literal

from fleet.backends.postgres import Database
from fleet.config import FleetConfig
from fleet.contracts import TokenUsage
from fleet.costs.pricing import price

ReportPeriod = Literal["day", "week", "month"]
Dimension = Literal["model", "task-type", "agent"]
_COLUMN = {"model": "model", "task-type": "task_type", "agent": "coalesce(agent_id, '-')"}


def cost_report(db: Database, config: FleetConfig, period: ReportPeriod,
                by: Dimension) -> dict[str, Any]:
    """Spend in the current day / ISO week / month, grouped by ``by``, with the savings
    against running every recorded token on ``routing.defaultModel`` (priced by the same
    function as the rows themselves)."""
    default = config.routing.model(config.routing.default_model)
    assert default is not None
    column = _COLUMN[by]
    with db.connection() as conn:
        rows = conn.execute(
            f"""SELECT {column} AS key, count(*), sum(input_tokens), sum(output_tokens),
                       sum(cached_tokens), sum(cache_write_tokens), sum(cost_usd)
                FROM cost_entries
                WHERE created_at >= date_trunc(%(period)s, now() AT TIME ZONE 'UTC')
                          AT TIME ZONE 'UTC'
                GROUP BY 1 ORDER BY 7 DESC""", {"period": period}).fetchall()
    groups: list[dict[str, Any]] = [
        {by: str(r[0]), "requests": int(str(r[1])), "input_tokens": int(str(r[2])),
         "output_tokens": int(str(r[3])), "cached_tokens": int(str(r[4])),
         "cost_usd": Decimal(str(r[6])),
         "single_model_cost_usd": price(TokenUsage(
             input_tokens=int(str(r[2])), output_tokens=int(str(r[3])),
             cached_tokens=int(str(r[4])), cache_write_tokens=int(str(r[5]))), default)}
        for r in rows]
    actual: Decimal = sum((g["cost_usd"] for g in groups), Decimal(0))
    single: Decimal = sum((g["single_model_cost_usd"] for g in groups), Decimal(0))
    return {"period": period, "by": by, "groups": groups, "total_cost_usd": actual,
            "single_model": default.name, "single_model_cost_usd": single,
            "savings_usd": single - actual,
            "savings_percent": round(float((single - actual) / single * 100), 2)
            if single else 0.0}


def render(report: dict[str, Any], fmt: Literal["table", "json", "csv"]) -> str:
    if fmt == "json":
        return json.dumps(report, default=str, indent=2)
    by = report["by"]
    header = [by, "requests", "input_tokens", "output_tokens", "cached_tokens", "cost_usd",
              "single_model_cost_usd"]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        for g in report["groups"]:
            writer.writerow([g[h] for h in header])
        return out.getvalue()
    table = [header, *[[str(g[h]) for h in header] for g in report["groups"]]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.append(f"total ${report['total_cost_usd']} this {report['period']}; all on "
                 f"{report['single_model']}: ${report['single_model_cost_usd']}; saved "
                 f"${report['savings_usd']} ({report['savings_percent']}%)")
    return "\n".join(lines)
