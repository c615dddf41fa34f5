"""StubLedger: the budget ledger in memory, for unit tests (the same rules as the Redis one:
all-or-nothing reservations, each attempt settled once, alerts once per period and
threshold)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import Future
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fleet.config import CostTracking
from fleet.costs.budget.ledger import (
    PERIODS,
    Alert,
    Ledger,
    Period,
    SendLater,
    Settled,
    ledger_key,
)


class StubLedger(Ledger):
    def __init__(self, settings: CostTracking) -> None:
        super().__init__(settings)
        self.spent: dict[str, Decimal] = {}  # ledger key -> spent
        self.reserved: dict[str, Decimal] = {}  # ledger key -> reserved
        self.reservations: dict[str, tuple[Decimal, list[str]]] = {}  # task -> amount, keys
        self.settled: dict[str, set[int]] = {}  # task -> attempts settled
        self.fired: set[tuple[str, float]] = set()  # (ledger key, threshold)
        self._lock = threading.Lock()

    def reserve(self, task_id: str, amount: Decimal, day: date | None = None
                ) -> tuple[bool, Period | None, Decimal]:
        if not self.active:
            return True, None, Decimal(0)
        day = day or datetime.now(UTC).date()
        with self._lock:
            if task_id in self.reservations:
                return True, None, Decimal(0)
            keys = [ledger_key(p, day) for p in PERIODS]
            for period, key in zip(PERIODS, keys, strict=True):
                limit = self.limit(period)
                used = self.spent.get(key, Decimal(0)) + self.reserved.get(key, Decimal(0))
                if limit is not None and used + amount > limit:
                    return False, period, used
            for key in keys:
                self.reserved[key] = self.reserved.get(key, Decimal(0)) + amount
            self.reservations[task_id] = (amount, keys)
            return True, None, Decimal(0)

    def settle(self, task_id: str, spend: Mapping[int, Decimal] | None = None,
               day: date | None = None) -> Settled:
        if not self.settings.enabled:
            return [], {}
        day = day or datetime.now(UTC).date()
        with self._lock:
            amount, reserved_keys = self.reservations.pop(task_id, (Decimal(0), []))
            for key in reserved_keys:
                self.reserved[key] -= amount
            done = self.settled.setdefault(task_id, set())
            added = sum((usd for attempt, usd in (spend or {}).items() if attempt not in done),
                        Decimal(0))
            done.update((spend or {}).keys())
            alerts: list[Alert] = []
            status: dict[str, Any] = {}
            for period in PERIODS:
                key = ledger_key(period, day)
                before = self.spent.get(key, Decimal(0))
                self.spent[key] = after = before + added
                status[period] = self.status_entry(period, after)
                limit = self.limit(period)
                if not limit or not added:
                    continue
                for threshold in self.thresholds(period):
                    crossed = after * 100 >= limit * Decimal(str(threshold))
                    if crossed and (key, threshold) not in self.fired:
                        self.fired.add((key, threshold))
                        alerts.append(Alert(period, threshold, after, limit))
            return alerts, status

    def settle_later(self, task_id: str, spend: Mapping[int, Decimal],
                     send_later: SendLater) -> Future[Settled]:
        outcome: Future[Settled] = Future()
        outcome.set_result(self.settle(task_id, spend))
        return outcome

    def used(self, period: Period, day: date | None = None) -> tuple[Decimal, Decimal]:
        key = ledger_key(period, day or datetime.now(UTC).date())
        return self.spent.get(key, Decimal(0)), self.reserved.get(key, Decimal(0))
