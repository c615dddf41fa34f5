"""The Celery application, ``fleet.app:app``.

Importing it validates the fleet config: a bad config stops the process with exit code 2 and
one line naming the field, before any worker starts consuming.
"""

from __future__ import annotations

import sys

from celery import Celery

from fleet import compat
from fleet.errors import ConfigError


def create_app() -> Celery:
    compat.install()
    app = Celery("fleet", include=["fleet.dispatch", "workers.execute", "beat.tasks"])
    try:
        app.config_from_object("celeryconfig")
        _ = app.conf.broker_url  # config is read lazily: force it now, at start-up
    except ConfigError as exc:
        print(f"fleet: invalid config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return app


app = create_app()
