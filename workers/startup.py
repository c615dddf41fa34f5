"""What a worker does as it starts: check its models' keys, tune for streaming, rebuild the
budget, serve metrics, spool cost rows held on disk, start the outbox sweeper and announce the
model queues it consumes (routers select a model registered at run time only once one is)."""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any

import prometheus_client
from celery.signals import worker_init, worker_ready

from fleet.app import app
from fleet.dispatch import outbox
from fleet.errors import FleetError
from fleet.routing.registry import ModelRegistry
from fleet.services import get_services
from workers.providers import check_credentials

log = logging.getLogger("fleet.execute")


@worker_init.connect
def _check_queue_credentials(sender: Any = None, **_: Any) -> None:
    """A worker for ``model.<name>`` refuses to start when that model has no API key."""
    registry = ModelRegistry.from_config(get_services().config)  # configured models only
    for queue in _model_queues(sender):
        name = queue.removeprefix("model.")
        if name in registry:
            try:
                check_credentials(registry.get(name))
            except FleetError as exc:
                log.critical("%s", exc)
                raise SystemExit(f"fleet: {exc}") from None


@worker_ready.connect
def _tune_for_streaming(**_: Any) -> None:
    # Everything imported so far lives as long as the process: keep it out of GC passes, and
    # hand the GIL round more often so a relay or subscriber thread is not kept waiting by
    # busy task threads (first-chunk latency).
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)
    ledger = get_services().ledger
    if ledger.active:  # PostgreSQL is the source of truth for spend: never trust a fresh Redis
        try:
            ledger.rebuild()
        except Exception as exc:  # PostgreSQL down at start: beat rebuilds later
            log.warning("budget rebuild at start failed: %s", exc)
    port = os.environ.get("FLEET_METRICS_PORT")
    if port:
        prometheus_client.start_http_server(int(port))


@worker_ready.connect
def _spool_held_cost_rows(**_: Any) -> None:
    # Rows a killed worker of this host held on disk through a PostgreSQL + Redis outage (or
    # this process's predecessor, restarted with the same pid).
    try:
        costs = get_services().costs
        costs.adopt_held()
        costs.flush_held()
    except Exception as exc:  # Redis still away: the rows stay on disk for the next start
        log.warning("could not spool held cost rows at start: %s", exc)


def _model_queues(sender: Any) -> list[str]:
    queues = getattr(getattr(sender, "app", app).amqp.queues, "consume_from", None) or {}
    return sorted(q for q in queues if q.startswith("model."))


@worker_ready.connect
def _announce_model_queues(sender: Any = None, **_: Any) -> None:
    get_services().consumers.keep_announcing(_model_queues(sender))


@worker_ready.connect
def _start_outbox_sweeper(**_: Any) -> None:
    # Every worker sweeps (one at a time, by a lock): a fleet needs no beat for it.
    outbox.Sweeper(get_services().redis, outbox.send_execute,
                   interval=min(5.0, outbox.redeliver_after() / 2)).start()
