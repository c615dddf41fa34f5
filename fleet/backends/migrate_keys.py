"""The Redis half of `fleet migrate`: keys named by an earlier release moved to today's names.

Release 0.9 gave the keys that Lua scripts touch together one hash tag (fleet/backends/keys.py)
so that a Redis Cluster can hold them. A fleet upgraded in place keeps its state: every stream
log, lease, attempt counter, outbox copy, breaker, budget ledger and reservation is renamed
(``RENAMENX``: a key the new release already wrote is left, and counted as a conflict), the
reservations' records name the renamed ledgers, a ledger's alert marks become its fields, and
each recent cancellation gets its per-task mark. Run it before the new release's workers start
(``fleet up`` does); an old worker still running loses its renamed lease and stops, and the
lease keeps the next attempt out until it lapses. A second run finds nothing to do.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable
from typing import cast

import redis

from fleet.backends import keys

MIGRATED = "fleet:keys:version"  # set once the keys have today's names
KEYS_VERSION = 2

_PERIOD = r"(?:daily|weekly|monthly):\d{4}-\d{2}-\d{2}"
# Old name -> today's, by kind (the kind names the counter in the report).
RENAMES: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    ("logs", re.compile(r"fleet:log:([^{}]+)"), lambda m: keys.stream_log(m[1])),
    ("leases", re.compile(r"fleet:lease:([^{}]+)"), lambda m: keys.lease(m[1])),
    ("attempts", re.compile(r"fleet:attempt:([^{}]+)"), lambda m: keys.attempt_counter(m[1])),
    ("owners", re.compile(r"fleet:owner:([^{}]+)"), lambda m: keys.owner(m[1])),
    ("outbox", re.compile(r"fleet:outbox"), lambda m: keys.OUTBOX),
    ("outbox", re.compile(r"fleet:outbox:due"), lambda m: keys.OUTBOX_DUE),
    ("breakers", re.compile(r"fleet:breakers"), lambda m: keys.BREAKERS),
    ("breakers", re.compile(r"fleet:breaker:fails:(.+)"), lambda m: keys.breaker_failures(m[1])),
    ("budget", re.compile(r"fleet:budget:reservations"), lambda m: keys.BUDGET_RESERVATIONS),
    ("budget", re.compile(r"fleet:budget:reservations:expiry"),
     lambda m: keys.BUDGET_RESERVATION_EXPIRY),
    ("budget", re.compile(r"fleet:budget:settled:(.+)"), lambda m: keys.budget_settled(m[1])),
    ("budget", re.compile(rf"fleet:budget:({_PERIOD})"), lambda m: "{fleet:budget}:" + m[1]),
]
OLD_ALERT = re.compile(rf"fleet:budget:({_PERIOD}):alert:([\d.]+)")


def migrate_keys(client: redis.Redis, batch: int = 1000) -> Counter[str]:
    """Moves every key with an earlier release's name; returns how many of each kind moved
    (``conflicts``: old keys left because today's name was taken)."""
    moved: Counter[str] = Counter()
    if int(client.get(MIGRATED) or 0) >= KEYS_VERSION:  # type: ignore[arg-type]
        return moved
    alerts = []
    for raw in client.scan_iter(match="fleet:*", count=batch):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        if alert := OLD_ALERT.fullmatch(name):
            alerts.append(alert)  # once its ledger has moved
            continue
        for kind, pattern, new_name in RENAMES:
            if match := pattern.fullmatch(name):
                moved[kind if client.renamenx(name, new_name(match)) else "conflicts"] += 1
                break
    for alert in alerts:
        client.hsetnx("{fleet:budget}:" + alert[1], f"alert:{alert[2]}", "1")
        client.delete(alert[0])
        moved["budget"] += 1
    _rename_reserved_ledgers(client)
    moved["cancellations"] = _mark_cancellations(client)
    client.set(MIGRATED, KEYS_VERSION)
    return moved


def _rename_reserved_ledgers(client: redis.Redis) -> None:
    """A reservation's record names the ledgers it holds money in: today's names."""
    records = cast(dict[bytes, bytes], client.hgetall(keys.BUDGET_RESERVATIONS))
    updated = {task: record.replace(b"fleet:budget:", b"{fleet:budget}:")
               for task, record in records.items()
               if b"{fleet:budget}" not in record}
    if updated:
        client.hset(keys.BUDGET_RESERVATIONS, mapping=updated)


def _mark_cancellations(client: redis.Redis) -> int:
    """Each task cancelled within the kept day gets the mark its attempts now look for."""
    now = time.time()
    marked = 0
    for member, when in client.zrangebyscore(keys.CANCELLED, now - keys.CANCEL_KEEP_SECONDS, "+inf",
                                             withscores=True):  # type: ignore[union-attr]
        task_id = member.decode() if isinstance(member, bytes) else str(member)
        left = int(when + keys.CANCEL_KEEP_SECONDS - now)
        if left > 0 and client.set(keys.cancelled(task_id), when, ex=left, nx=True):
            marked += 1
    return marked
