"""Process settings from the environment: where the services are, and secrets (``SecretStr``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process settings: where the services are, and secrets."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    fleet_broker_url: str = "redis://127.0.0.1:6379/0"
    # On RabbitMQ: classic queues, or quorum queues (replicated across a cluster's nodes).
    fleet_queue_type: Literal["classic", "quorum"] = "classic"
    fleet_redis_url: str = "redis://127.0.0.1:6379/0"
    # How often a Redis command is retried through a reconnect (backoff capped at 2 s; 20 is
    # about half a minute): how long a Redis outage may last before tasks fail.
    fleet_redis_retries: int = Field(default=20, ge=0, le=1000)
    # Replicas that must hold a stream batch, a started attempt or a reservation before the
    # fleet counts it done (WAIT; 0: asynchronous replication, fastest), and how long to wait.
    fleet_redis_wait_replicas: int = Field(default=0, ge=0, le=16)
    fleet_redis_wait_ms: int = Field(default=1000, ge=1, le=60_000)
    fleet_result_backend: str | None = None
    fleet_database_url: SecretStr = SecretStr("postgresql://127.0.0.1:5432/fleet")
    fleet_simulate: bool = False
    anthropic_api_key: SecretStr | None = None
    openai_api_key: SecretStr | None = None
    google_api_key: SecretStr | None = None
    fleet_gateway_token: SecretStr | None = None  # one bearer token with every scope
    # Scoped bearer tokens, "name:token:scope+scope,…" (fleet/http/auth.py).
    fleet_api_tokens: SecretStr | None = None
    fleet_rate_limit_per_minute: int = Field(default=0, ge=0, description=(
        "HTTP requests each token may make a minute (0: no limit)"))
    # Where a worker keeps cost rows while PostgreSQL and Redis are both away
    # (fleet/costs/spool.py): a directory that outlives the process (systemd StateDirectory,
    # a pod volume).
    fleet_hold_dir: Path = Path(tempfile.gettempdir()) / "qe-fleet-held"

    @property
    def on_rabbitmq(self) -> bool:
        return self.fleet_broker_url.startswith(("amqp", "pyamqp"))

    @property
    def result_backend(self) -> str:
        """Where Celery keeps results: the fleet's Redis, unless that is a cluster (Celery
        cannot use one): then the broker's Redis, or FLEET_RESULT_BACKEND."""
        if self.fleet_result_backend:
            return self.fleet_result_backend
        if not self.fleet_redis_url.startswith("redis+cluster://"):
            return self.fleet_redis_url
        if self.fleet_broker_url.startswith(("redis://", "rediss://", "redis+sentinel://")):
            return self.fleet_broker_url
        raise ValueError("FLEET_REDIS_URL is a Redis Cluster, which Celery cannot keep results "
                         "in: set FLEET_RESULT_BACKEND (a single or Sentinel-watched Redis)")
