"""Routing outcomes: each try of a checked task (model, valid or not, why, escalated to), the
seed's Appendix C routing accuracy. Kept as long as routing selections.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE routing_outcomes (
        task_id       text NOT NULL,
        try_no        smallint NOT NULL,
        model         text NOT NULL,
        task_type     text NOT NULL,
        valid         boolean NOT NULL,
        problem       text NOT NULL DEFAULT '',
        escalated_to  text,
        created_at    timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (task_id, try_no)
    );
    CREATE INDEX routing_outcomes_created_at ON routing_outcomes (created_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE routing_outcomes;")
