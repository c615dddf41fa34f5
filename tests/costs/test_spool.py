"""HeldRows: cost rows on local disk, spooled by their process or adopted after it died."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from fleet.contracts import CostEntry, TokenUsage
from fleet.costs.spool import HeldRows

HOST = socket.gethostname()


def entry(segment: int = 0) -> CostEntry:
    return CostEntry(task_id="t-1", attempt=1, segment=segment, model="claude-haiku-4",
                     provider="anthropic", task_type="general", agent_id=None,
                     usage=TokenUsage(input_tokens=10, output_tokens=20),
                     cost_usd=Decimal("0.00012000"))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write(path: Path, *entries: CostEntry, torn: bool = False) -> None:
    text = "".join(e.model_dump_json() + "\n" for e in entries)
    path.write_text(text + ('{"task_id": "t-1", "att' if torn else ""))


def away(_: list[CostEntry]) -> None:
    raise ConnectionError("Redis away")


def test_held_rows_are_spooled_once(tmp_path: Path) -> None:
    held, spooled = HeldRows(tmp_path), []
    held.hold([entry(0)])
    held.hold([entry(1)])
    assert held.holding
    assert held.flush(spooled.extend) == 2
    assert [e.segment for e in spooled] == [0, 1]
    assert held.flush(spooled.extend) == 0 and not held.holding
    assert list(tmp_path.iterdir()) == []


def test_rows_stay_held_while_the_spool_fails(tmp_path: Path) -> None:
    held = HeldRows(tmp_path)
    held.hold([entry()])
    with pytest.raises(ConnectionError):
        held.flush(away)
    assert held.holding and held.path.exists()


def test_a_predecessor_with_the_same_pid_left_rows_to_spool(tmp_path: Path) -> None:
    write(tmp_path / f"{HOST}-{os.getpid()}.jsonl", entry())
    spooled: list[CostEntry] = []
    assert HeldRows(tmp_path).flush(spooled.extend) == 1


def test_dead_processes_rows_are_adopted_and_live_ones_left(tmp_path: Path) -> None:
    dead, live = dead_pid(), os.getppid()
    write(tmp_path / f"{HOST}-{dead}.jsonl", entry(0), entry(1), torn=True)
    write(tmp_path / f"{HOST}-{live}.jsonl", entry(2))
    write(tmp_path / f"other-host-{dead}.jsonl", entry(3))
    spooled: list[CostEntry] = []
    assert HeldRows(tmp_path).adopt(spooled.extend) == 2  # the torn row is skipped
    assert [e.segment for e in spooled] == [0, 1]
    assert {p.name for p in tmp_path.iterdir()} == {f"{HOST}-{live}.jsonl",
                                                    f"other-host-{dead}.jsonl"}


def test_an_adoption_cut_short_is_taken_up_again(tmp_path: Path) -> None:
    owner, adopter = dead_pid(), dead_pid()
    write(tmp_path / f"{HOST}-{owner}.jsonl.adopted-{adopter}", entry())
    held = HeldRows(tmp_path)
    with pytest.raises(ConnectionError):
        held.adopt(away)
    assert [p.name for p in tmp_path.iterdir()] == [f"{HOST}-{owner}.jsonl"]  # given back
    spooled: list[CostEntry] = []
    assert held.adopt(spooled.extend) == 1
    assert list(tmp_path.iterdir()) == []
