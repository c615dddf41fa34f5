"""Budgets: race-free daily / weekly / monthly limits shared by every dispatcher and worker.

Redis keeps one ledger per period (``{fleet:budget}:daily:2026-11-27`` …: ``spent`` and
``reserved`` in integer units of 1e-8 USD, the precision of ``cost_usd``).

* The dispatcher **reserves** a task's estimated cost (input + max output tokens at the model's
  prices) against all periods in one Lua script (``reserve.lua``): either every limit has room
  and the reservation is taken, or nothing changes. Concurrent dispatchers therefore cannot
  overspend by more than the error of one estimate.
* The worker **settles** when the attempt ends (``settle.lua``): the reservation is released,
  the actual cost is added, and alert thresholds crossed for the first time in a period fire
  once (COST_002). Spend is settled per attempt and each attempt counts once, so a settle
  repeated (its reply lost as Redis went down, or a retry settling what a cut-off attempt
  left) cannot count the same cost twice.
* Reservations of tasks that die expire (task timeout x 2 + a minute) and are released by the
  next reservation, so a crashed worker cannot block the budget for ever.
* PostgreSQL is the source of truth: :meth:`BudgetLedger.rebuild` resets ``spent`` from
  ``cost_entries`` (at start-up and from beat), so losing Redis loses no spend.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import redis

from fleet.backends import keys
from fleet.backends.replication import Replication
from fleet.config import CostTracking
from fleet.costs.rollup import recorded_spend

if TYPE_CHECKING:
    from fleet.backends.postgres import Database
    from fleet.backends.scripts import Scripts

log = logging.getLogger("fleet.budget")

Period = Literal["daily", "weekly", "monthly"]
PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly")
UNITS_PER_USD = 10**8
# Past any redelivery of the task (whose attempt counter lives as long).
SETTLED_TTL_MS = 24 * 3600 * 1000


def to_units(usd: Decimal) -> int:
    return int((usd * UNITS_PER_USD).to_integral_value())


def to_usd(units: int) -> Decimal:
    return (Decimal(units) / UNITS_PER_USD).quantize(Decimal("0.00000001"))


def period_start(period: Period, day: date) -> date:
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def period_end(period: Period, day: date) -> date:
    start = period_start(period, day)
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def ledger_key(period: Period, day: date) -> str:
    return keys.budget_ledger(period, period_start(period, day))


@dataclass(frozen=True)
class Alert:
    period: Period
    threshold: float
    used: Decimal
    limit: Decimal


# The alerts a settle fired for the first time, and the budget status after it.
Settled = tuple[list[Alert], dict[str, Any]]


class SendLater(Protocol):
    """Runs a Redis command later, after what the caller sent before it, and hands its reply
    to ``on_reply`` (the stream relay's ``send_later``)."""

    def __call__(self, *command: str | int,
                 on_reply: Callable[[Any], None] | None = None) -> None: ...


class Ledger:
    """What every ledger shares (limits, thresholds, status); a backend keeps the periods'
    spend and reservations: :class:`BudgetLedger` in Redis, ``StubLedger`` in memory."""

    def __init__(self, settings: CostTracking) -> None:
        self.settings = settings

    def limit(self, period: Period) -> Decimal | None:
        return cast(Decimal | None, getattr(self.settings.budget_limits, period))

    @property
    def active(self) -> bool:
        return self.settings.enabled and any(self.limit(p) is not None for p in PERIODS)

    def thresholds(self, period: Period) -> list[float]:
        """The percentages of ``period``'s limit at which an alert fires (once each)."""
        alerts = self.settings.alert_thresholds
        own = {"daily": alerts.daily_percent, "weekly": alerts.weekly_percent,
               "monthly": alerts.monthly_percent}[period]
        return sorted({own, 100.0})

    def reserve(self, task_id: str, amount: Decimal, day: date | None = None
                ) -> tuple[bool, Period | None, Decimal]:
        """Reserve ``amount`` against every limited period, or nothing: (reserved?, the period
        that refused, its used amount). A task reserves once (a redelivery changes nothing)."""
        raise NotImplementedError

    def settle(self, task_id: str, spend: Mapping[int, Decimal] | None = None,
               day: date | None = None) -> Settled:
        """Release the task's reservation and add the cost of each attempt in ``spend``
        (attempt number -> USD) not settled before; returns the alerts that fired for the first
        time in their period, and the budget status after it."""
        raise NotImplementedError

    def settle_later(self, task_id: str, spend: Mapping[int, Decimal],
                     send_later: SendLater) -> Future[Settled]:
        """:meth:`settle` sent with ``send_later``; the future holds its outcome."""
        raise NotImplementedError

    def used(self, period: Period, day: date | None = None) -> tuple[Decimal, Decimal]:
        """(spent, reserved) in the period containing ``day``."""
        raise NotImplementedError

    def release(self, task_id: str) -> None:
        """Drop a reservation without spending (a task rejected after reserving)."""
        self.settle(task_id)

    def remaining(self, day: date | None = None) -> Decimal | None:
        """The smallest room left across limited periods (None: no limit)."""
        rooms = []
        for period in PERIODS:
            limit = self.limit(period)
            if limit is not None:
                spent, reserved = self.used(period, day)
                rooms.append(limit - spent - reserved)
        return min(rooms) if rooms else None

    def status(self, day: date | None = None) -> dict[str, Any]:
        """The seed's budgetStatus shape: {period: {used, limit, percentUsed}}."""
        return {period: self.status_entry(period, *self.used(period, day))
                for period in PERIODS}

    def status_entry(self, period: Period, spent: Decimal,
                     reserved: Decimal | None = None) -> dict[str, Any]:
        limit = self.limit(period)
        entry: dict[str, Any] = {"used": float(spent), "limit": float(limit)
                                 if limit is not None else None,
                                 "percentUsed": round(float(spent / limit * 100), 2)
                                 if limit else None}
        if reserved is not None:
            entry["reserved"] = float(reserved)
        return entry


class BudgetLedger(Ledger):
    """The fleet's ledger: in Redis, shared by every dispatcher and worker, changed only by
    Lua scripts (each change is one atomic step)."""

    def __init__(self, settings: CostTracking, client: redis.Redis, scripts: Scripts,
                 db: Database, reservation_ttl_s: float = 1260,
                 replication: Replication | None = None) -> None:
        """``db``: where the spend of record is (rebuild); ``replication``: whom a
        reservation must reach before it counts as taken."""
        super().__init__(settings)
        self.client = client
        self.replication = replication or Replication(client, 0, 0)
        self.db = db
        self.reservation_ttl_ms = int(reservation_ttl_s * 1000)
        self._reserve = scripts["reserve"]
        self._settle = scripts["settle"]
        self._rebuild = scripts["rebuild"]

    def _thresholds(self, period: Period) -> str:
        return ",".join(str(t) for t in self.thresholds(period))

    def _keys(self, day: date) -> list[str]:
        return [ledger_key(p, day) for p in PERIODS]

    def _limits(self) -> list[int]:
        return [to_units(limit) if (limit := self.limit(p)) is not None else -1
                for p in PERIODS]

    def reserve(self, task_id: str, amount: Decimal, day: date | None = None
                ) -> tuple[bool, Period | None, Decimal]:
        if not self.active:
            return True, None, Decimal(0)
        day = day or datetime.now(UTC).date()
        result = cast(list[int], self._reserve(
            keys=[*self._keys(day), keys.BUDGET_RESERVATIONS, keys.BUDGET_RESERVATION_EXPIRY],
            args=[task_id, to_units(amount), int(time.time() * 1000), self.reservation_ttl_ms,
                  *self._limits()]))
        if result[0] == 1:
            self.replication.wait([keys.BUDGET_RESERVATIONS])
            return True, None, Decimal(0)
        return False, PERIODS[int(result[1]) - 1], to_usd(int(result[2]))

    def settle(self, task_id: str, spend: Mapping[int, Decimal] | None = None,
               day: date | None = None) -> Settled:
        if not self.settings.enabled:
            return [], {}
        call_keys, args = self._settle_call(task_id, spend, day)
        return self._settled(self._settle(keys=call_keys, args=args))

    def settle_later(self, task_id: str, spend: Mapping[int, Decimal],
                     send_later: SendLater) -> Future[Settled]:
        """:meth:`settle`, sent by ``send_later`` after the events the caller emitted before it
        (no round trip of the caller's own); the future holds its outcome once it ran, which
        is before those events and the ones after it count as written. The script is sent
        whole (EVAL): a worker that never settled before finds it loaded either way."""
        outcome: Future[Settled] = Future()
        if not self.settings.enabled:
            outcome.set_result(([], {}))
            return outcome
        call_keys, args = self._settle_call(task_id, spend, None)

        def on_reply(reply: Any) -> None:
            if isinstance(reply, Exception):
                outcome.set_exception(reply)
            else:
                outcome.set_result(self._settled(reply))

        send_later("EVAL", cast(str, self._settle.script), len(call_keys), *call_keys, *args,
                   on_reply=on_reply)
        return outcome

    def _settle_call(self, task_id: str, spend: Mapping[int, Decimal] | None,
                     day: date | None) -> tuple[list[str], list[str | int]]:
        """The keys and arguments of ``settle.lua`` for this settle."""
        day = day or datetime.now(UTC).date()
        attempts = [str(x) for attempt, usd in (spend or {}).items()
                    for x in (attempt, to_units(usd))]
        call_keys = [*self._keys(day), keys.BUDGET_RESERVATIONS, keys.BUDGET_RESERVATION_EXPIRY,
                     keys.budget_settled(task_id)]
        return call_keys, [task_id, SETTLED_TTL_MS, len(attempts) // 2, *attempts, *self._limits(),
                      *(self._thresholds(p) for p in PERIODS)]

    def _settled(self, result: list[int]) -> Settled:
        spent, fired = result[:len(PERIODS)], result[len(PERIODS):]
        status: dict[str, Any] = {period: self.status_entry(period, to_usd(int(units)))
                                  for period, units in zip(PERIODS, spent, strict=True)}
        alerts = []
        for i in range(0, len(fired), 3):
            period = PERIODS[int(fired[i]) - 1]
            limit = self.limit(period) or Decimal(0)
            alerts.append(Alert(period, float(fired[i + 1]), to_usd(int(fired[i + 2])), limit))
        return alerts, status

    def used(self, period: Period, day: date | None = None) -> tuple[Decimal, Decimal]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(
            ledger_key(period, day or datetime.now(UTC).date())))
        return (to_usd(int(raw.get(b"spent", 0))), to_usd(int(raw.get(b"reserved", 0))))

    def rebuild(self, day: date | None = None) -> dict[str, Decimal]:
        """Reset every period's spend from PostgreSQL (the source of truth: cost rows, and
        the daily summaries for days whose rows are past their retention)."""
        day = day or datetime.now(UTC).date()
        out: dict[str, Decimal] = {}
        for period in PERIODS:
            key = ledger_key(period, day)
            journal = int(cast(bytes | None, self.client.hget(key, "journal")) or 0)
            total = recorded_spend(self.db, self.settings, period_start(period, day),
                                   period_end(period, day), day)
            self._rebuild(keys=[key], args=[to_units(total), journal])
            out[period] = total
        return out


class RemainingBudget:
    """The router's cheap view of the budget (refreshed every 0.5 s); the reservation at
    dispatch is the authoritative, atomic check."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._value: Decimal | None = None
        self._at = float("-inf")

    def affords(self, model: object, cost: Decimal) -> bool:
        if time.monotonic() - self._at > 0.5:
            self._value, self._at = self.ledger.remaining(), time.monotonic()
        return self._value is None or cost <= self._value
