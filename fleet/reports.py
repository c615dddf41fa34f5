"""Cost reports from PostgreSQL rows: spend by period and dimension, and what the same
recorded tokens would have cost on the default model alone (savings from routing)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any, Literal

from fleet import db
from fleet.config import FleetConfig

ReportPeriod = Literal["day", "week", "month"]
Dimension = Literal["model", "task-type", "agent"]
_COLUMN = {"model": "model", "task-type": "task_type", "agent": "coalesce(agent_id, '-')"}
_DAYS = {"day": 1, "week": 7, "month": 31}


def cost_report(config: FleetConfig, period: ReportPeriod, by: Dimension) -> dict[str, Any]:
    """Spend in the current day / ISO week / month, grouped by ``by``, with the savings
    against running every recorded token on ``routing.defaultModel``."""
    default = config.routing.model(config.routing.default_model)
    assert default is not None
    p = default.capabilities.cost_per_1k_tokens
    read = p.cache_read if p.cache_read is not None else p.input
    write = p.cache_write if p.cache_write is not None else p.input
    column = _COLUMN[by]
    with db.connection() as conn:
        rows = conn.execute(
            f"""SELECT {column} AS key, count(*), sum(input_tokens), sum(output_tokens),
                       sum(cached_tokens), sum(cost_usd),
                       sum(input_tokens * %(in)s + output_tokens * %(out)s
                           + cached_tokens * %(read)s + cache_write_tokens * %(write)s) / 1000
                FROM cost_entries
                WHERE created_at >= date_trunc(%(period)s, now() AT TIME ZONE 'UTC')
                          AT TIME ZONE 'UTC'
                GROUP BY 1 ORDER BY 6 DESC""",
            {"in": p.input, "out": p.output, "read": read, "write": write,
             "period": period}).fetchall()
    groups: list[dict[str, Any]] = [
        {by: str(r[0]), "requests": int(str(r[1])), "input_tokens": int(str(r[2])),
         "output_tokens": int(str(r[3])), "cached_tokens": int(str(r[4])),
         "cost_usd": Decimal(str(r[5])),
         "single_model_cost_usd": Decimal(str(r[6])).quantize(Decimal("0.00000001"))}
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
