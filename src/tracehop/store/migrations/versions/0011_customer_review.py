"""A customer under review (issue 16, the customer page's "Set review"): a note, since when
and by whom. Kept apart from the imported record (a re-import leaves it alone) and never
sent in a traceback answer.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("review_note", sa.Text))
        batch.add_column(sa.Column("review_since", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("review_by", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("review_by")
        batch.drop_column("review_since")
        batch.drop_column("review_note")
