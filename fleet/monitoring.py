"""What is read at scrape time rather than counted by each worker: the depth of every queue
(kombu's priority lists and the messages taken but not acknowledged, on a Redis broker), the
share of each period's budget used, and today's savings against the default model. The gateway's
``GET /metrics`` serves them; ``fleet exporter`` serves them without the gateway.

Workers count their own metrics (fleet/metrics.py) on their own ``FLEET_METRICS_PORT``: one
scrape target per worker process, which is what the thread pool gives (one process a worker).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet.backends.redis import SENTINEL_SCHEME, connect
from fleet.contracts import queue_for
from fleet.services import Services

log = logging.getLogger("fleet.monitoring")


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (GaugeMetricFamily("fleet_queue_depth", "Messages in a queue: ready (all its "
                              "priority lists) or unacked (taken by a worker, not yet "
                              "acknowledged)", labels=["queue", "state"]),
            GaugeMetricFamily("fleet_budget_used_ratio", "Spent and reserved over the limit, "
                              "per budget period", labels=["period"]),
            GaugeMetricFamily("fleet_savings_usd", "Today's spend on the default model alone "
                              "minus what was spent", labels=["period"]))


def queue_depths(broker: redis.Redis, queues: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(ready, unacked) per queue on a Redis broker: every priority list of a queue, and the
    unacknowledged messages by their routing key (one scan of kombu's ``unacked`` hash)."""
    names = list(queues)
    pipe = broker.pipeline(transaction=False)
    for name in names:
        for step in PRIORITY_STEPS:
            pipe.llen(name if step == 0 else f"{name}{Channel.sep}{step}")
    lengths = pipe.execute()
    unacked: Counter[str] = Counter()
    for _, raw in broker.hscan_iter(Channel.unacked_key, count=1000):
        try:
            unacked[str(json.loads(raw)[2])] += 1
        except (ValueError, IndexError, TypeError):
            continue
    steps = len(PRIORITY_STEPS)
    return {name: (sum(lengths[i * steps:(i + 1) * steps]), unacked[name])
            for i, name in enumerate(names)}


class FleetCollector(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def describe(self) -> Iterator[Metric]:
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        depth, budget, savings = _families()
        services = self.services
        try:
            self._depths(depth)
        except redis.RedisError as exc:  # a scrape reports what it can read
            log.warning("queue depth not read: %s", exc)
        try:
            for period, status in services.ledger.status().items():
                limit, used = status.get("limit"), status.get("used") or 0
                if limit:
                    budget.add_metric([period], (used + (status.get("reserved") or 0)) / limit)
        except redis.RedisError as exc:
            log.warning("budget not read: %s", exc)
        try:
            from fleet.views import costs

            report: dict[str, Any] = costs(services, "day", "model")
            savings.add_metric(["day"], float(report["savings_usd"]))
        except Exception as exc:  # PostgreSQL away: the other families still go out
            log.warning("savings not read: %s", exc)
        yield from (depth, budget, savings)

    def _depths(self, family: GaugeMetricFamily) -> None:
        url = self.services.settings.fleet_broker_url
        if not url.startswith(("redis://", "rediss://", "unix://", SENTINEL_SCHEME)):
            return  # RabbitMQ: its own Prometheus plugin reports queue depths
        queues = ["fleet.dispatch", "fleet.beat",
                  *(queue_for(m.name) for m in self.services.registry.all())]
        retries = self.services.settings.fleet_redis_retries
        broker = self.services.component("broker-redis", lambda: connect(url, retries))
        for queue, (ready, unacked) in queue_depths(broker, queues).items():
            family.add_metric([queue, "ready"], ready)
            family.add_metric([queue, "unacked"], unacked)


def register(services: Services) -> FleetCollector:
    """The process's scrape-time collector, registered with Prometheus once."""
    def build() -> FleetCollector:
        collector = FleetCollector(services)
        REGISTRY.register(collector)
        return collector

    return services.component("metrics-collector", build)
