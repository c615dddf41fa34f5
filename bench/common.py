"""Shared set-up for benchmarks that run the fleet: an isolated Redis db and Postgres database,
environment for worker processes, and small statistics helpers."""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import tarfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis
import yaml

from tests.harness import ROOT, claim_redis_db


def process_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process ``pid``, all its threads, from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def median(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


@contextmanager
def bench_env(config_overrides: Mapping[str, object] | None = None,
              pg_base: str = "postgresql://127.0.0.1:5432") -> Iterator[dict[str, str]]:
    """Environment (also applied to this process) for an isolated fleet; cleaned up after."""
    run_id = uuid.uuid4().hex[:8]
    db = claim_redis_db(owner=run_id)
    redis_url = f"redis://127.0.0.1:6379/{db}"
    database_url = f"{pg_base}/fleet_bench_{run_id}"
    config = yaml.safe_load((ROOT / "config" / "fleet.yaml").read_text())
    for dotted, value in (config_overrides or {}).items():
        node = config
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    config_path = Path(f"/tmp/fleet-bench-{run_id}.yaml")
    config_path.write_text(yaml.safe_dump(config))
    env = {"FLEET_REDIS_URL": redis_url, "FLEET_BROKER_URL": redis_url,
           "FLEET_DATABASE_URL": database_url, "FLEET_CONFIG": str(config_path),
           "FLEET_SIMULATE": "true", "FEATURE_MULTI_MODEL_ROUTER": "true",
           "FEATURE_STREAMING": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    _reset_process_state()
    from fleet.backends.migrate import migrate
    from fleet.backends.postgres import drop_database

    migrate(database_url)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    client.set("fleet:test:claimed", run_id, ex=3600)
    try:
        yield env
    finally:
        from fleet.dispatch.selections import flush_selections

        flush_selections()  # the last selections go to this database, not to the spool
        _reset_process_state()
        drop_database(database_url)
        client.flushdb()
        config_path.unlink(missing_ok=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _reset_process_state()


def _reset_process_state() -> None:
    """Settings and config are read once per process; a new bench environment needs them
    read again."""
    from fleet.services import set_services

    previous = set_services(None)
    if previous is not None:
        previous.close()


def export(revision: str, into: Path) -> Path:
    """The files of ``revision`` in the directory ``into``."""
    archive = subprocess.run(["git", "archive", revision], cwd=ROOT, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into
