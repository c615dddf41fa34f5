"""Test harness: real Redis and PostgreSQL, isolated per run.

Each run gets its own PostgreSQL database (``fleet_test_<random>``, migrated, dropped at the end)
and its own Redis logical database (claimed with a lock key, flushed before and after). The
environment is set here, before any ``fleet`` module reads its settings, so worker processes
started by the tests inherit the same isolation.
"""

from __future__ import annotations

import os
import uuid

from tests.harness import claim_redis_db

REDIS_HOST = os.environ.get("FLEET_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("FLEET_TEST_REDIS_PORT", "6379"))
PG_BASE = os.environ.get("FLEET_TEST_PG", "postgresql://127.0.0.1:5432")
RUN_ID = uuid.uuid4().hex[:10]


REDIS_DB = claim_redis_db(REDIS_HOST, REDIS_PORT, RUN_ID)
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"
DATABASE_URL = f"{PG_BASE}/fleet_test_{RUN_ID}"

os.environ.update({
    "FLEET_REDIS_URL": REDIS_URL,
    "FLEET_BROKER_URL": REDIS_URL,
    "FLEET_DATABASE_URL": DATABASE_URL,
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
