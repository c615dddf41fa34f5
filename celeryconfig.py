"""Celery settings for the fleet (``app.config_from_object("celeryconfig")``).

JSON only; late acknowledgement so a killed worker's task is redelivered; prefetch 1 so a busy
model queue does not hoard messages; a visibility timeout above the longest task.
"""

from __future__ import annotations

import os
from datetime import timedelta

from kombu import Exchange, Queue

from fleet.backends.redis import celery_url
from fleet.contracts import queue_for
from fleet.services import get_config, get_settings

_config = get_config()
_settings = get_settings()

# A Sentinel-watched master (redis+sentinel://…) in kombu's form, with its master name.
broker_url, _broker_sentinel = celery_url(_settings.fleet_broker_url)
result_backend, _backend_sentinel = celery_url(_settings.result_backend)
broker_connection_retry_on_startup = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]
event_serializer = "json"
result_expires = 24 * 3600
# Results carry the outcome only: an extended result would store each task's whole payload
# (code and context, up to fleet.maxPayloadBytes) a second time for a day. Flower and the
# gateway take names, arguments and workers from task events and the stream.
result_extended = False

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_time_limit = _config.fleet.task_timeout + 30
task_soft_time_limit = _config.fleet.task_timeout
_visibility = int(os.environ.get("FLEET_VISIBILITY_TIMEOUT") or task_time_limit * 2 + 60)
broker_transport_options = {
    # Redis redelivers an unacknowledged message after this long. Keep it above the longest
    # task; if it is not, execution leases (fleet/lease.py) still stop a second copy running.
    "visibility_timeout": _visibility,
    # How often a worker sweeps for messages of dead workers to redeliver.
    "unacked_restore_interval": max(1, min(10, _visibility // 10)),
    "unacked_restore_throttle": 1,
    **_broker_sentinel,
}
# Ride out a Redis restart (about half a minute, like the fleet's own Redis clients) instead
# of losing a finished task's result: retry every result-backend operation on connection
# errors, not only the writes.
result_backend_always_retry = True
result_backend_max_retries = 30
result_backend_base_sleep_between_retries_ms = 100
result_backend_max_sleep_between_retries_ms = 2000
result_backend_transport_options = {"retry_policy": {
    "max_retries": 30, "interval_start": 0, "interval_step": 0.5, "interval_max": 2},
    **_backend_sentinel}



if _settings.on_rabbitmq:
    # A message is sent once RabbitMQ has taken it (publisher confirms), not merely written.
    broker_transport_options = {"confirm_publish": True}
# Quorum queues (FLEET_QUEUE_TYPE=quorum, RabbitMQ): each queue replicated across the cluster's
# nodes; a queue created on the fly (a model registered at run time) is one too. Quorum queues
# know no global QoS, which Celery detects; a client of another service that declares these
# queues must declare them alike (x-queue-type: quorum).
_QUORUM = _settings.on_rabbitmq and _settings.fleet_queue_type == "quorum"
task_create_missing_queue_type = "quorum" if _QUORUM else "classic"


def _queue(name: str, prioritised: bool = False) -> Queue:
    # One direct exchange per queue: a shared default exchange would copy every message to
    # every queue bound with the same routing key. A model queue on RabbitMQ serves a task's
    # priority: a classic queue with ten levels, a quorum queue with its two (RabbitMQ 3.12+);
    # only the fleet declares and sends to model queues (the dispatch queue stays plain, as
    # other services declare it too).
    arguments = ({"x-queue-type": "quorum"} if _QUORUM
                 else {"x-max-priority": 9} if prioritised and _settings.on_rabbitmq else None)
    return Queue(name, Exchange(name, type="direct"), routing_key=name,
                 queue_arguments=arguments)


task_queues = [
    _queue("fleet.dispatch"),
    *(_queue(queue_for(m.name), prioritised=True) for m in _config.enabled_models()),
    _queue("fleet.beat"),
]
task_default_queue = "fleet.dispatch"
task_routes = {
    "fleet.dispatch": {"queue": "fleet.dispatch"},
    "fleet.beat.*": {"queue": "fleet.beat"},
}
task_create_missing_queues = True

worker_send_task_events = True
task_send_sent_event = True
worker_hijack_root_logger = False

beat_schedule = {
    "aggregate-costs": {"task": "fleet.beat.aggregate_costs", "schedule": timedelta(minutes=1)},
    "drain-cost-spool": {"task": "fleet.beat.drain_cost_spool", "schedule": timedelta(seconds=5)},
    "rebuild-budgets": {"task": "fleet.beat.rebuild_budgets", "schedule": timedelta(minutes=5)},
    "cleanup": {"task": "fleet.beat.cleanup", "schedule": timedelta(hours=1)},
}
