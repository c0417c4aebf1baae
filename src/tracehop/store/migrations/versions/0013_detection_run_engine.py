"""A detection run records the engine it ran on (issue 17: every result says where it ran),
``duckdb`` for the runs stored before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detection_runs") as batch:
        batch.add_column(
            sa.Column("engine", sa.String(20), nullable=False, server_default="duckdb")
        )


def downgrade() -> None:
    with op.batch_alter_table("detection_runs") as batch:
        batch.drop_column("engine")
