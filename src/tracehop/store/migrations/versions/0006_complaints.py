"""Complaints a provider received about calls it carried, with the customer each was traced to.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "complaints",
        sa.Column("complaint_id", sa.String(200), primary_key=True),
        sa.Column("caller", sa.String(100), nullable=False),
        sa.Column("called", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("on_date", sa.Date),
        sa.Column("description", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.String(30), nullable=False),
        sa.Column("upstream", sa.String(200)),
        sa.Column("confidence", sa.Float, nullable=False),
    )
    op.create_index("ix_complaints_upstream", "complaints", ["upstream"])


def downgrade() -> None:
    op.drop_index("ix_complaints_upstream", "complaints")
    op.drop_table("complaints")
