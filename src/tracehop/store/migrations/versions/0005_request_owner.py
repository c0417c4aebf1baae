"""Traceback requests remember which API token asked (a request id belongs to its asker).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("traceback_requests") as batch:
        batch.add_column(sa.Column("owner", sa.String(100)))


def downgrade() -> None:
    with op.batch_alter_table("traceback_requests") as batch:
        batch.drop_column("owner")
