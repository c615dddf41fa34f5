"""StubCostTracker: cost rows in memory, for unit tests (the same idempotence as the
PostgreSQL store: a row is keyed by task, attempt and segment)."""

from __future__ import annotations

import threading
from decimal import Decimal

from fleet.contracts import CostEntry


class StubCostTracker:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, int, int], CostEntry] = {}
        self._lock = threading.Lock()

    def record(self, entries: list[CostEntry]) -> list[CostEntry]:
        """Keep the rows not recorded before; returns those (as the real tracker does)."""
        new = []
        with self._lock:
            for entry in entries:
                key = (entry.task_id, entry.attempt, entry.segment)
                if key not in self.rows:
                    self.rows[key] = entry
                    new.append(entry)
        return new

    def spend_by_attempt(self, task_id: str) -> dict[int, Decimal]:
        spend: dict[int, Decimal] = {}
        for (task, attempt, _), entry in sorted(self.rows.items()):
            if task == task_id:
                spend[attempt] = spend.get(attempt, Decimal(0)) + entry.cost_usd
        return spend

    def flush_held(self) -> int:
        return 0  # nothing is ever held: the store is always there

    def adopt_held(self) -> int:
        return 0

    def drain(self, batch: int = 1000) -> int:
        return 0
