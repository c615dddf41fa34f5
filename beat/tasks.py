"""Periodic tasks: cost aggregation, spool draining, budget rebuilds and TTL cleanup.

Only the schedule lives here; the work is in :mod:`fleet.costs` and :mod:`fleet.dispatch`.
Every task runs at most once per schedule slot fleet-wide, even when two beat processes were
started by mistake: the body runs under a Redis lock named after the task and its slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from fleet.app import app
from fleet.backends import keys
from fleet.costs import rollup
from fleet.dispatch.selections import drain_selections
from fleet.services import get_services

log = logging.getLogger("fleet.beat")

T = TypeVar("T")


def once_per_slot(seconds: int) -> Callable[[Callable[..., T]], Callable[..., T | None]]:
    """Run the body only if no other process ran it in this ``seconds``-long slot."""

    def decorate(body: Callable[..., T]) -> Callable[..., T | None]:
        @wraps(body)
        def run(*args: Any, **kwargs: Any) -> T | None:
            slot = int(time.time() // seconds)
            key = keys.beat_slot_lock(body.__name__, slot)
            if not get_services().redis.set(key, "1", nx=True, ex=seconds * 2):
                log.info("%s already ran in this slot; skipped", body.__name__)
                return None
            return body(*args, **kwargs)

        return run

    return decorate


@app.task(name="fleet.beat.aggregate_costs")
@once_per_slot(60)
def aggregate_costs() -> int:
    n = rollup.aggregate_costs(get_services().db)
    log.info("aggregated new cost rows into %d daily summary groups", n)
    return n


@app.task(name="fleet.beat.drain_cost_spool")
@once_per_slot(5)
def drain_cost_spool() -> int:
    services = get_services()
    moved = services.costs.drain() + drain_selections(services.redis, services.db)
    if moved:
        log.info("wrote %d spooled rows to PostgreSQL", moved)
    return moved


@app.task(name="fleet.beat.rebuild_budgets")
@once_per_slot(300)
def rebuild_budgets() -> dict[str, str]:
    ledger = get_services().ledger
    if not ledger.active:
        return {}
    return {period: str(total) for period, total in ledger.rebuild().items()}


@app.task(name="fleet.beat.cleanup")
@once_per_slot(3600)
def cleanup() -> dict[str, int]:
    services = get_services()
    deleted = rollup.cleanup(services.db, services.config.routing.cost_tracking)
    log.info("TTL cleanup deleted %s", deleted)
    return deleted
