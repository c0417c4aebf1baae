"""The hub's directory gains each provider's OCN: the SPC of its STIR/SHAKEN certificate, so a
verified signature names its provider (the shortcut, tracebacks/shortcut.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_providers") as batch:
        batch.add_column(sa.Column("ocn", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("hub_providers") as batch:
        batch.drop_column("ocn")
