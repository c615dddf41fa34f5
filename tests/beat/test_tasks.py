"""Beat's schedule: each task runs once per slot across processes."""

from __future__ import annotations

from beat.tasks import once_per_slot


def test_beat_work_runs_once_per_slot_across_processes(fleet) -> None:
    calls: list[int] = []

    @once_per_slot(3600)
    def job_for_this_test() -> int:
        calls.append(1)
        return len(calls)

    assert job_for_this_test() == 1
    assert job_for_this_test() is None  # a second beat's message in the same slot
    assert calls == [1]
