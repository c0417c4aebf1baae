"""Ingest manifest and customers.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_manifest",
        sa.Column("checksum", sa.String(64), primary_key=True),
        sa.Column("ingest_id", sa.String(40), nullable=False, unique=True),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("format", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("rows_ingested", sa.BigInteger, nullable=False),
        sa.Column("rows_rejected", sa.BigInteger, nullable=False),
        sa.Column("first_start", sa.DateTime(timezone=True)),
        sa.Column("last_start", sa.DateTime(timezone=True)),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("onboarded", sa.Date),
        sa.Column("rmd_id", sa.String(64)),
        sa.Column("notes", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    )


def downgrade() -> None:
    op.drop_table("customers")
    op.drop_table("ingest_manifest")
