"""Every Redis key and channel name the fleet uses, in one place.

Keys a Lua script touches together share a hash tag (the part in braces), so on a Redis
Cluster they live in one slot: a task's keys its id (``fleet:log:{<id>}``), the budget's and
the breakers' their own. :data:`RENAMED` maps the names of earlier releases to these
(``fleet migrate`` moves them, fleet/backends/migrate_keys.py)."""

from __future__ import annotations

from datetime import date

# --- streams (fleet.streaming) ---------------------------------------------------------------
EVENTS_CHANNEL = "fleet:events"  # fleet-wide events: cost.tracked, budget.alert


def stream_channel(task_id: str) -> str:
    """Pub/sub channel of a task's live events."""
    return f"fleet:stream:{{{task_id}}}"


def stream_log(task_id: str) -> str:
    """Redis Stream holding a task's events for replay (entry id ``<seq+1>-0``)."""
    return f"fleet:log:{{{task_id}}}"


# --- execution (workers.attempt) -------------------------------------------------------------
def lease(task_id: str) -> str:
    return f"fleet:lease:{{{task_id}}}"


def attempt_counter(task_id: str) -> str:
    return f"fleet:attempt:{{{task_id}}}"


CANCELLED = "fleet:cancelled"  # task id -> when it was cancelled (epoch seconds), for pollers


CANCEL_KEEP_SECONDS = 24 * 3600  # a task redelivered this long after its cancellation is not run


def cancelled(task_id: str) -> str:
    """The task's own cancellation mark (kept ``CANCEL_KEEP_SECONDS``), read by its attempts'
    lease script."""
    return f"fleet:cancelled:{{{task_id}}}"


def owner(task_id: str) -> str:
    """The name of the token that submitted the task over HTTP (fleet/http/tasks.py)."""
    return f"fleet:owner:{{{task_id}}}"


# --- dispatch (fleet.dispatch) ---------------------------------------------------------------
OUTBOX = "{fleet:outbox}"  # task id -> the execute message (JSON)
OUTBOX_DUE = "{fleet:outbox}:due"  # task id -> when to re-send it (epoch seconds)
OUTBOX_SWEEP_LOCK = "fleet:outbox:sweep"
SELECTIONS_SPOOL = "fleet:selections:spool"

# --- routing state (fleet.routing) -----------------------------------------------------------
FLAGS = "fleet:flags"
MODELS = "fleet:models"
BREAKERS = "{fleet:breakers}"
CONSUMERS = "fleet:consumers"  # model queue -> until when a worker consumes it (epoch ms)


def breaker_probe(model: str) -> str:
    return f"fleet:breaker:probe:{model}"


def breaker_failures(model: str) -> str:
    return f"{{fleet:breakers}}:fails:{model}"


# --- money (fleet.costs) ---------------------------------------------------------------------
COST_SPOOL = "fleet:costs:spool"
COST_SPOOL_LOCK = "fleet:costs:spool:lock"
BUDGET_RESERVATIONS = "{fleet:budget}:reservations"
BUDGET_RESERVATION_EXPIRY = "{fleet:budget}:reservations:expiry"


def budget_ledger(period: str, start: date) -> str:
    """The ledger of the budget period (daily, weekly, monthly) starting on ``start``."""
    return f"{{fleet:budget}}:{period}:{start.isoformat()}"


def budget_settled(task_id: str) -> str:
    return f"{{fleet:budget}}:settled:{task_id}"


# --- beat ------------------------------------------------------------------------------------
def beat_slot_lock(task_name: str, slot: int) -> str:
    return f"fleet:beat:lock:{task_name}:{slot}"
