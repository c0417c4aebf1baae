"""A stored traceback answer records the engine its lookup ran on (issue 17: every result
says where it ran), ``duckdb`` for the answers stored before.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("traceback_answers") as batch:
        batch.add_column(
            sa.Column("engine", sa.String(20), nullable=False, server_default="duckdb")
        )


def downgrade() -> None:
    with op.batch_alter_table("traceback_answers") as batch:
        batch.drop_column("engine")
