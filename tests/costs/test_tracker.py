"""Cost rows against real PostgreSQL and Redis: idempotent, spooled, held on disk, adopted."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import redis

from fleet.backends.postgres import Database
from fleet.contracts import TokenUsage
from fleet.costs.tracker import CostTracker, cost_entry
from tests.costs.test_pricing import MODELS
from tests.harness import ROOT

AWAY = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens: Redis is away


def test_recording_the_same_attempt_twice_keeps_one_row(pg, fleet) -> None:
    tracker = fleet.costs
    entry = cost_entry(task_id="cost-dup", attempt=1, model=MODELS["claude-haiku-4"],
                          task_type="general", agent_id=None,
                          usage=TokenUsage(input_tokens=10, output_tokens=20))
    assert tracker.record([entry]) == [entry]
    assert tracker.record([entry]) == []
    second = entry.model_copy(update={"attempt": 2})
    assert tracker.record([second, entry]) == [second]
    rows = pg.execute("SELECT attempt, cost_usd FROM cost_entries WHERE task_id = 'cost-dup' "
                      "ORDER BY attempt").fetchall()
    assert rows == [(1, entry.cost_usd), (2, entry.cost_usd)]


def test_rows_are_held_while_postgresql_and_redis_are_both_away(pg, redis_client, fleet,
                                                                monkeypatch, tmp_path) -> None:
    tracker = CostTracker(fleet.db, AWAY, tmp_path)
    entry = cost_entry(task_id=f"held-{uuid.uuid4().hex[:8]}", attempt=1,
                       model=MODELS["claude-haiku-4"], task_type="general", agent_id=None,
                       usage=TokenUsage(input_tokens=10, output_tokens=20))
    monkeypatch.setattr(fleet.db, "probably_up", lambda: False)  # PostgreSQL away
    with pytest.raises(redis.ConnectionError):
        tracker.record([entry])
    assert tracker.held.path.read_text().count("\n") == 1  # on disk, not only in memory
    tracker.client = redis_client  # Redis is back first
    assert tracker.flush_held() == 1
    assert tracker.flush_held() == 0
    assert not tracker.held.path.exists()
    monkeypatch.setattr(fleet.db, "probably_up", lambda: True)  # then PostgreSQL
    tracker.drain()
    rows = pg.execute("SELECT task_id, cost_usd FROM cost_entries WHERE task_id = %s",
                      (entry.task_id,)).fetchall()
    assert rows == [(entry.task_id, entry.cost_usd)]


HOLDER = """
import sys, time
from pathlib import Path
import redis
from fleet.backends.postgres import Database
from fleet.contracts import TokenUsage
from fleet.costs.tracker import CostTracker, cost_entry
from tests.costs.test_pricing import MODELS

db = Database("postgresql://127.0.0.1:1/away")
db.probably_up = lambda: False
tracker = CostTracker(db, redis.Redis(port=1, socket_connect_timeout=0.2), Path(sys.argv[1]))
entries = [cost_entry(task_id=sys.argv[2], attempt=1, segment=i,
                      model=MODELS["claude-haiku-4"], task_type="general", agent_id=None,
                      usage=TokenUsage(input_tokens=10 + i, output_tokens=20))
           for i in range(3)]
try:
    tracker.record(entries)
except redis.ConnectionError:
    print("held", flush=True)
time.sleep(120)
"""


def test_rows_held_by_a_killed_process_are_adopted_by_the_next(pg, redis_client, fleet,
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
    tracker = CostTracker(fleet.db, redis_client, tmp_path)
    assert tracker.adopt_held() == 3
    assert tracker.adopt_held() == 0  # adopted once
    assert list(tmp_path.iterdir()) == []
    tracker.drain()
    rows = pg.execute("SELECT segment FROM cost_entries WHERE task_id = %s ORDER BY segment",
                      (task_id,)).fetchall()
    assert rows == [(0,), (1,), (2,)]


def test_a_hold_dir_that_cannot_be_written_still_reports_redis_away(tmp_path) -> None:
    (tmp_path / "file").write_text("")
    db = Database("postgresql://127.0.0.1:1/away")
    db.mark_down()  # PostgreSQL away
    tracker = CostTracker(db, AWAY, tmp_path / "file" / "held")  # a directory under a file
    entry = cost_entry(task_id="held-nowhere", attempt=1, model=MODELS["claude-haiku-4"],
                       task_type="general", agent_id=None,
                       usage=TokenUsage(input_tokens=1, output_tokens=1))
    with pytest.raises(redis.ConnectionError):  # what the task's retry path expects
        tracker.record([entry])
    assert not tracker.held.holding
