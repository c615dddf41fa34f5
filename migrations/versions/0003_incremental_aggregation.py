"""Incremental cost aggregation: each cost row records its writing transaction, and beat keeps
a watermark of transactions already rolled up.

Rows are aggregated only once every transaction that could still add a row below the watermark
has finished (``pg_snapshot_xmin``), so a slow insert can never slip past an aggregation run —
which an ``id > last_id`` watermark would allow, ids being assigned before commit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE cost_entries ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX cost_entries_txid ON cost_entries (txid);
    CREATE TABLE aggregation_state (
        name        text PRIMARY KEY,
        watermark   xid8 NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO aggregation_state (name, watermark) VALUES ('daily_cost_summaries', '0');
    TRUNCATE daily_cost_summaries;
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE aggregation_state;
    DROP INDEX cost_entries_txid;
    ALTER TABLE cost_entries DROP COLUMN txid;
    """)
