"""The hub: provider directory with node URLs, number blocks, traces and their hops (issue 4).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_providers",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(400), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("roles", sa.String(200)),
        sa.Column("in_consortium", sa.Boolean, nullable=False),
        sa.Column("rmd_listed", sa.Boolean, nullable=False),
        sa.Column("rmd_id", sa.String(64)),
        sa.Column("contact", sa.Text),
        sa.Column("node_url", sa.Text),
        sa.Column("token", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "hub_number_blocks",
        sa.Column("npa_nxx", sa.String(6), primary_key=True),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("use", sa.String(100)),
    )
    op.create_table(
        "hub_traces",
        sa.Column("trace_id", sa.String(80), primary_key=True),
        sa.Column("reference", sa.String(200)),
        sa.Column("caller", sa.String(100), nullable=False),
        sa.Column("called", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("on_date", sa.Date),
        sa.Column("description", sa.Text),
        sa.Column("start_provider", sa.String(200)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(30)),
        sa.Column("outcome_provider", sa.String(200)),
        sa.Column("outcome_customer", sa.String(200)),
        sa.Column("gateway", sa.String(200)),
        sa.Column("reason", sa.Text),
        sa.Column("needs_review", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_hub_traces_reference", "hub_traces", ["reference"])
    op.create_table(
        "hub_hops",
        sa.Column(
            "trace_id",
            sa.String(80),
            sa.ForeignKey("hub_traces.trace_id"),
            primary_key=True,
        ),
        sa.Column("hop", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.String(30), nullable=False),
        sa.Column("upstream", sa.String(200)),
        sa.Column("confidence", sa.Float),
        sa.Column("needs_review", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("http_status", sa.Integer),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("reason", sa.Text),
        sa.Column("raw", sa.JSON),
    )
    op.create_index("ix_hub_hops_provider", "hub_hops", ["provider"])


def downgrade() -> None:
    op.drop_index("ix_hub_hops_provider", table_name="hub_hops")
    op.drop_table("hub_hops")
    op.drop_index("ix_hub_traces_reference", table_name="hub_traces")
    op.drop_table("hub_traces")
    op.drop_table("hub_number_blocks")
    op.drop_table("hub_providers")
