"""`fleet migrate` on Redis: a fleet upgraded in place keeps every stream, lease, attempt count,
reservation, outbox copy, breaker and cancellation written under an earlier release's names."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from fleet.backends import keys
from fleet.backends.migrate_keys import MIGRATED, migrate_keys
from fleet.costs.budget import BudgetLedger, ledger_key
from tests.costs.test_budget import settings
from workers.attempt import LeaseBusy, LeaseKeeper

pytestmark = pytest.mark.integration

DAY = date(2031, 5, 6)
TASK = "mig-running"


def _event(seq: int, type_: str) -> str:
    return json.dumps({"task_id": TASK, "seq": seq, "type": type_, "model": "m", "data": {},
                       "ts": 0})


@pytest.fixture
def old_fleet(redis_client: Any) -> Iterator[Any]:
    """What a fleet of the earlier release leaves in Redis mid-run, by its raw key names."""
    old = redis_client
    old.delete(MIGRATED)
    for seq, type_ in enumerate(["start", "chunk", "chunk"]):
        old.xadd(f"fleet:log:{TASK}", {"e": _event(seq, type_)}, id=f"{seq + 1}-0")
    old.set(f"fleet:lease:{TASK}", "old-worker-token", px=10_000)
    old.set(f"fleet:attempt:{TASK}", 1)
    old.hset("fleet:outbox", "mig-queued", "{}")
    old.zadd("fleet:outbox:due", {"mig-queued": 1})
    old.hset("fleet:breakers", "model-x", 123)
    old.set("fleet:breaker:fails:model-x", 4)
    ledger = f"fleet:budget:daily:{DAY.isoformat()}"
    old.hset(ledger, mapping={"spent": 1000, "reserved": 500})
    old.set(f"{ledger}:alert:80.0", 1)  # thresholds are floats
    old.hset("fleet:budget:reservations", TASK, f"500|{ledger}")
    old.zadd("fleet:budget:reservations:expiry", {TASK: time.time() * 1000 + 60_000})
    old.zadd("fleet:cancelled", {"mig-cancelled": time.time() - 5})
    yield old
    for key in old.scan_iter("*mig-*"):
        old.delete(key)
    for key in [*old.scan_iter("{fleet:budget}*"), *old.scan_iter("*fleet:breaker*"), MIGRATED,
                keys.OUTBOX, keys.OUTBOX_DUE]:
        old.delete(key)


def test_an_upgraded_fleet_carries_on_where_the_old_one_stood(old_fleet: Any, fleet: Any
                                                              ) -> None:
    moved = migrate_keys(old_fleet)
    assert moved["logs"] == moved["leases"] == moved["attempts"] == 1
    assert moved["outbox"] == 2 and moved["breakers"] == 2 and moved["cancellations"] == 1
    assert moved["conflicts"] == 0, moved
    assert not list(old_fleet.scan_iter("fleet:log:mig*")) and not old_fleet.exists(
        "fleet:outbox", "fleet:budget:reservations", f"fleet:budget:daily:{DAY}")
    # The running attempt's lease still keeps others out; its stream and count go on.
    keeper = LeaseKeeper(fleet.relay, fleet.scripts["lease"])
    with pytest.raises(LeaseBusy):
        keeper.acquire(TASK)
    old_fleet.delete(keys.lease(TASK))  # the old worker's lease lapses
    attempt = keeper.acquire(TASK)
    assert attempt.number == 2 and attempt.last_event is not None
    assert attempt.last_event["seq"] == 2
    keeper.release(TASK)
    # The cancelled task's next delivery sees its cancellation.
    assert keeper.acquire("mig-cancelled").cancelled
    keeper.release("mig-cancelled")
    assert fleet.relay.drain(5)
    assert old_fleet.hget(keys.OUTBOX, "mig-queued") == b"{}"
    assert old_fleet.hget(keys.BREAKERS, "model-x") == b"123"
    # The reservation settles against the renamed ledger: reserved back to 0, spend added,
    # and the 80 % alert, already sent under the old name, is not sent again.
    ledger = BudgetLedger(settings(daily="0.00001"), fleet.redis, fleet.scripts, fleet.db)
    alerts, _ = ledger.settle(TASK, {1: Decimal("0.000002")}, day=DAY)
    assert [a.threshold for a in alerts] == [100.0]
    day = old_fleet.hgetall(ledger_key("daily", DAY))
    assert (int(day[b"reserved"]), int(day[b"spent"])) == (0, 1200)
    assert migrate_keys(old_fleet) == {}  # a second run has nothing to do
