"""`fleet migrate`: create the database if missing and bring its schema to head (Alembic)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from fleet.backends.postgres import ensure_database


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    cfg.set_main_option("sqlalchemy.url", sa_url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> bool:
    """Returns True when the database was created by this call."""
    created = ensure_database(url)
    command.upgrade(alembic_config(url), "head")
    return created
