"""The hub's directory gains each provider's OCN: the SPC of its STIR/SHAKEN certificate, so a
verified signature names its provider (the shortcut, tracebacks/shortcut.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_providers") as batch:
        batch.add_column(sa.Column("ocn", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("hub_providers") as batch:
        batch.drop_column("ocn")
