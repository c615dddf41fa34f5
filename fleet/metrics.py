"""Prometheus metrics (the seed's Appendix C). A worker serves them on ``FLEET_METRICS_PORT``
when set; labels are model names, task types and periods — never task ids or secrets."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SELECTIONS = Counter("fleet_selections_total", "Model selections", ["model", "degraded"])
SELECTION_SECONDS = Histogram("fleet_selection_seconds", "Routing decision latency",
                              buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1))
COST_USD = Counter("fleet_cost_usd_total", "Spend recorded", ["model", "task_type"])
TOKENS = Counter("fleet_tokens_total", "Tokens recorded, by kind: input, output, cache_read, "
                 "cache_write", ["model", "kind"])
BUDGET_ALERTS = Counter("fleet_budget_alerts_total", "Budget alerts fired (COST_002)",
                        ["period", "threshold"])
BUDGET_REJECTIONS = Counter("fleet_budget_rejections_total", "Tasks refused or downgraded",
                            ["outcome"])
COST_SPOOLED = Counter("fleet_cost_rows_spooled_total", "Cost rows spooled while PostgreSQL "
                       "was unavailable")
STREAMS = Counter("fleet_streams_total", "Streams finished", ["model", "outcome"])
FIRST_PASS = Counter("fleet_routing_first_pass_total", "Checked results by whether the first "
                     "model's answer passed (the seed's routing accuracy)",
                     ["model", "task_type", "valid"])
FAILED_CALLS = Counter("fleet_failed_calls_total", "Provider calls that failed before any "
                       "output (not billed)", ["model", "reason"])
FALLBACKS = Counter("fleet_fallbacks_total", "Switches to a fallback model", ["from_model"])
REDELIVERIES = Counter("fleet_redeliveries_total", "Execute messages sent again because their "
                       "task had not started in time (presumed lost by the broker)")
MESSAGES_PUT_BACK = Counter("fleet_messages_put_back_total", "Messages a worker popped as the "
                            "Redis broker went away and put back on its queue")
