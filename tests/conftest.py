"""Test harness. Pure tests need no service; a test that needs Redis or PostgreSQL asks for the
``services`` fixture (directly, or through ``redis_client``, ``pg``, ``worker`` …).

The first such test claims, for the whole run, a Redis logical database of its own (a lock key,
flushed before and after) and a PostgreSQL database ``fleet_test_<random>`` (migrated, dropped at
the end), and points the environment at them, so worker processes started by the tests inherit
the same isolation. Until then the service URLs point at a closed port with no retries: a test
that reaches a service without asking for one fails at once instead of touching a shared one.
"""

from __future__ import annotations

import os
import uuid

REDIS_HOST = os.environ.get("FLEET_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("FLEET_TEST_REDIS_PORT", "6379"))
PG_BASE = os.environ.get("FLEET_TEST_PG", "postgresql://127.0.0.1:5432")
RUN_ID = uuid.uuid4().hex[:10]
UNREACHABLE = {
    "FLEET_REDIS_URL": "redis://127.0.0.1:1/0",
    "FLEET_BROKER_URL": "redis://127.0.0.1:1/0",
    "FLEET_DATABASE_URL": "postgresql://127.0.0.1:1/unclaimed",
    "FLEET_REDIS_RETRIES": "0",
}

os.environ.update({
    **UNREACHABLE,
    "FLEET_CONFIG": os.path.join(os.path.dirname(__file__), "..", "config", "fleet.yaml"),
    "FLEET_SIMULATE": "true",
    "FEATURE_MULTI_MODEL_ROUTER": "true",
    "FEATURE_STREAMING": "true",
    "FLEET_SIM_TTFT_MS": "20",
    "FLEET_SIM_TOKENS_PER_SECOND": "4000",
    "FLEET_TASK_TIMEOUT": "60",
})
for _secret in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GOOGLE_API_KEY"):
    os.environ.pop(_secret, None)

pytest_plugins = ["tests.fixtures"]
