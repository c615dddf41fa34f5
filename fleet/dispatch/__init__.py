"""Dispatch: a task's intake (validation), its route (select, reserve, record, send), the
outbox that re-sends lost execute messages, and the `fleet.dispatch` Celery task."""
