"""Price arithmetic (exact Decimal) and idempotent cost rows."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import Decimal

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from fleet.backends import postgres as db
from fleet.config import load_config
from fleet.contracts import TokenUsage
from fleet.costs import tracker as costs
from fleet.costs.spool import HeldRows
from fleet.costs.tracker import CostTracker, price
from tests.harness import ROOT
from tests.test_config import SHIPPED

MODELS = {m.name: m for m in load_config(SHIPPED, environ={}).routing.models}


def test_seed_example_price() -> None:
    # Appendix A: 5000 input + 3000 output on Sonnet.
    usage = TokenUsage(input_tokens=5000, output_tokens=3000)
    assert price(usage, MODELS["claude-sonnet-4.5"]) == Decimal("0.06000000")


def test_cache_tokens_use_their_own_prices() -> None:
    usage = TokenUsage(cached_tokens=10_000, cache_write_tokens=1000)
    assert price(usage, MODELS["claude-haiku-4"]) == Decimal("0.00180000")


@given(st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7),
       st.integers(0, 10**7))
def test_price_is_additive_and_non_negative(a: int, b: int, c: int, d: int) -> None:
    model = MODELS["claude-opus-4"]
    both = price(TokenUsage(input_tokens=a + c, output_tokens=b + d), model)
    parts = (price(TokenUsage(input_tokens=a, output_tokens=b), model)
             + price(TokenUsage(input_tokens=c, output_tokens=d), model))
    assert both == parts >= 0


def test_recording_the_same_attempt_twice_keeps_one_row(pg) -> None:
    tracker = CostTracker()
    entry = tracker.entry(task_id="cost-dup", attempt=1, model=MODELS["claude-haiku-4"],
                          task_type="general", agent_id=None,
                          usage=TokenUsage(input_tokens=10, output_tokens=20))
    assert tracker.record([entry]) == [entry]
    assert tracker.record([entry]) == []
    second = entry.model_copy(update={"attempt": 2})
    assert tracker.record([second, entry]) == [second]
    rows = pg.execute("SELECT attempt, cost_usd FROM cost_entries WHERE task_id = 'cost-dup' "
                      "ORDER BY attempt").fetchall()
    assert rows == [(1, entry.cost_usd), (2, entry.cost_usd)]


def test_rows_are_held_while_postgresql_and_redis_are_both_away(pg, redis_client, monkeypatch,
                                                                tmp_path) -> None:
    tracker = CostTracker(HeldRows(tmp_path))
    entry = tracker.entry(task_id=f"held-{uuid.uuid4().hex[:8]}", attempt=1,
                          model=MODELS["claude-haiku-4"], task_type="general", agent_id=None,
                          usage=TokenUsage(input_tokens=10, output_tokens=20))
    monkeypatch.setattr(db, "probably_up", lambda: False)  # PostgreSQL away
    away = redis.Redis(port=1, socket_connect_timeout=0.2)  # and Redis: nothing listens
    monkeypatch.setattr(costs, "get_redis", lambda: away)
    with pytest.raises(redis.ConnectionError):
        tracker.record([entry])
    assert tracker.held.path.read_text().count("\n") == 1  # on disk, not only in memory
    monkeypatch.setattr(costs, "get_redis", lambda: redis_client)  # Redis is back first
    assert tracker.flush_held() == 1
    assert tracker.flush_held() == 0
    assert not tracker.held.path.exists()
    monkeypatch.setattr(db, "probably_up", lambda: True)  # then PostgreSQL
    tracker.drain()
    rows = pg.execute("SELECT task_id, cost_usd FROM cost_entries WHERE task_id = %s",
                      (entry.task_id,)).fetchall()
    assert rows == [(entry.task_id, entry.cost_usd)]


HOLDER = """
import sys, time
from pathlib import Path
import redis
from fleet.costs import tracker as costs
from fleet.backends import postgres as db
from fleet.config import load_config
from fleet.costs.tracker import CostTracker
from fleet.costs.spool import HeldRows
from fleet.contracts import TokenUsage
from tests.test_config import SHIPPED

model = {m.name: m for m in load_config(SHIPPED, environ={}).routing.models}["claude-haiku-4"]
db.probably_up = lambda: False
away = redis.Redis(port=1, socket_connect_timeout=0.2)
costs.get_redis = lambda: away
tracker = CostTracker(HeldRows(Path(sys.argv[1])))
entries = [tracker.entry(task_id=sys.argv[2], attempt=1, segment=i, model=model,
                         task_type="general", agent_id=None,
                         usage=TokenUsage(input_tokens=10 + i, output_tokens=20))
           for i in range(3)]
try:
    tracker.record(entries)
except redis.ConnectionError:
    print("held", flush=True)
time.sleep(120)
"""


def test_rows_held_by_a_killed_process_are_adopted_by_the_next(pg, redis_client,
                                                               tmp_path) -> None:
    """kill -9 a process holding cost rows through a PostgreSQL + Redis outage: the next
    process on the host spools them, and PostgreSQL gets each row once."""
    task_id = f"adopt-{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), task_id],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        holder.kill()
        holder.wait()
    tracker = CostTracker(HeldRows(tmp_path))
    assert tracker.adopt_held() == 3
    assert tracker.adopt_held() == 0  # adopted once
    assert list(tmp_path.iterdir()) == []
    tracker.drain()
    rows = pg.execute("SELECT segment FROM cost_entries WHERE task_id = %s ORDER BY segment",
                      (task_id,)).fetchall()
    assert rows == [(0,), (1,), (2,)]


def test_a_hold_dir_that_cannot_be_written_still_reports_redis_away(monkeypatch,
                                                                     tmp_path) -> None:
    (tmp_path / "file").write_text("")
    tracker = CostTracker(HeldRows(tmp_path / "file" / "held"))  # a directory under a file
    entry = tracker.entry(task_id="held-nowhere", attempt=1, model=MODELS["claude-haiku-4"],
                          task_type="general", agent_id=None,
                          usage=TokenUsage(input_tokens=1, output_tokens=1))
    monkeypatch.setattr(db, "probably_up", lambda: False)
    away = redis.Redis(port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(costs, "get_redis", lambda: away)
    with pytest.raises(redis.ConnectionError):  # what the task's retry path expects
        tracker.record([entry])
    assert not tracker.held.holding
