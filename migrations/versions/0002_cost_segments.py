"""Cost rows per provider call: a task attempt that fails over to another model is billed by
both, so rows are keyed (task_id, attempt, segment).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    ALTER TABLE cost_entries ADD COLUMN segment smallint NOT NULL DEFAULT 0
        CHECK (segment >= 0);
    ALTER TABLE cost_entries DROP CONSTRAINT cost_entries_one_per_attempt;
    ALTER TABLE cost_entries ADD CONSTRAINT cost_entries_one_per_attempt
        UNIQUE (task_id, attempt, segment);
    """)


def downgrade() -> None:
    op.execute("""
    ALTER TABLE cost_entries DROP CONSTRAINT cost_entries_one_per_attempt;
    ALTER TABLE cost_entries ADD CONSTRAINT cost_entries_one_per_attempt
        UNIQUE (task_id, attempt);
    ALTER TABLE cost_entries DROP COLUMN segment;
    """)
