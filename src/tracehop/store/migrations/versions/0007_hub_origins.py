"""The hub's origin directory (orig_id -> originating provider) and the STIR/SHAKEN shortcut.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_origins",
        sa.Column("orig_id", sa.String(200), primary_key=True),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("trace_id", sa.String(80)),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times_seen", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("hub_traces") as batch:
        batch.add_column(sa.Column("shortcut_via", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("hub_traces") as batch:
        batch.drop_column("shortcut_via")
    op.drop_table("hub_origins")
