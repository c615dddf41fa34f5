"""The Celery application, ``fleet.app:app``.

Importing it validates the fleet config: a bad config stops the process with exit code 2 and
one line naming the field, before any worker starts consuming.
"""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery, Task
from celery.exceptions import Retry

from fleet.backends import kombu_fixes as compat
from fleet.errors import ConfigError


def create_app() -> Celery:
    compat.install()
    app = Celery("fleet", include=["fleet.dispatch.task", "workers.execute", "beat.tasks"])
    try:
        app.config_from_object("celeryconfig")
        _ = app.conf.broker_url  # config is read lazily: force it now, at start-up
    except ConfigError as exc:
        print(f"fleet: invalid config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return app


def retry_in_place(task: Task, countdown: float, **options: Any) -> Retry:
    """``task.retry`` without a retry limit that keeps the message's ``argsrepr`` and
    ``kwargsrepr``: Celery's retry drops them, and Flower and task events would show the whole
    payload (a task's code and context) instead of the summary it was sent with."""
    request = task.request
    return task.retry(countdown=countdown, max_retries=None,
                      argsrepr=getattr(request, "argsrepr", None),
                      kwargsrepr=getattr(request, "kwargsrepr", None), **options)


app = create_app()
