"""Prometheus metrics (the seed's Appendix C). A worker serves them on ``FLEET_METRICS_PORT``
when set; labels are model names, task types and periods — never task ids or secrets."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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

# Streams, per model (workers/execute.py observes each one as it ends).
_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STREAM_FIRST_CHUNK = Histogram("fleet_stream_first_chunk_seconds", "Time to first chunk: "
                               "from the attempt's start to its first chunk event", ["model"],
                               buckets=_SECONDS)
STREAM_DURATION = Histogram("fleet_stream_duration_seconds", "Attempt start to final event",
                            ["model"], buckets=_SECONDS)
STREAM_CHUNKS = Histogram("fleet_stream_chunks", "Chunk events per stream", ["model"],
                          buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000))
STREAM_BUFFER_PEAK = Histogram("fleet_stream_buffer_peak_ratio", "Peak share of the stream "
                               "buffer holding events not yet in Redis", ["model"],
                               buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 0.8, 1))
BACKPRESSURE = Counter("fleet_stream_backpressure_total", "Times a stream's producer waited "
                       "for the relay (buffer at the backpressure threshold)", ["model"])
CHUNKS_DISCARDED = Counter("fleet_chunks_discarded_total", "Model deltas discarded "
                           "(STREAM_003)", ["model"])
STREAMS_IN_FLIGHT = Gauge("fleet_streams_in_flight", "Streams running in this process",
                          ["model"])
