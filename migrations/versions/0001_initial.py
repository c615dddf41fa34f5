"""Initial schema: routing selections, cost entries, daily cost summaries.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE routing_selections (
        task_id          text PRIMARY KEY,
        model            text NOT NULL,
        task_type        text NOT NULL,
        agent_id         text,
        agent_type       text,
        complexity       double precision NOT NULL,
        reason           text NOT NULL,
        fallback_models  jsonb NOT NULL DEFAULT '[]',
        error_code       text,
        latency_us       integer NOT NULL DEFAULT 0,
        selection        jsonb NOT NULL,
        created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX routing_selections_created_at ON routing_selections (created_at);

    CREATE TABLE cost_entries (
        id                  bigserial PRIMARY KEY,
        task_id             text NOT NULL,
        attempt             integer NOT NULL CHECK (attempt >= 1),
        model               text NOT NULL,
        provider            text NOT NULL,
        task_type           text NOT NULL,
        agent_id            text,
        input_tokens        integer NOT NULL CHECK (input_tokens >= 0),
        output_tokens       integer NOT NULL CHECK (output_tokens >= 0),
        cached_tokens       integer NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
        cache_write_tokens  integer NOT NULL DEFAULT 0 CHECK (cache_write_tokens >= 0),
        cost_usd            numeric(18, 8) NOT NULL CHECK (cost_usd >= 0),
        estimated           boolean NOT NULL DEFAULT false,
        created_at          timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT cost_entries_one_per_attempt UNIQUE (task_id, attempt)
    );
    CREATE INDEX cost_entries_created_at ON cost_entries (created_at);

    CREATE TABLE daily_cost_summaries (
        day                 date NOT NULL,
        model               text NOT NULL,
        task_type           text NOT NULL,
        requests            bigint NOT NULL,
        input_tokens        bigint NOT NULL,
        output_tokens       bigint NOT NULL,
        cached_tokens       bigint NOT NULL,
        cache_write_tokens  bigint NOT NULL,
        cost_usd            numeric(20, 8) NOT NULL,
        updated_at          timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (day, model, task_type)
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE daily_cost_summaries; DROP TABLE cost_entries; "
               "DROP TABLE routing_selections;")
