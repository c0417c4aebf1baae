"""Traceback requests and their answers (the responder, issue 4).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "traceback_requests",
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("caller", sa.String(100), nullable=False),
        sa.Column("called", sa.String(100), nullable=False),
        sa.Column("caller_e164", sa.String(32)),
        sa.Column("called_e164", sa.String(32)),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("on_date", sa.Date),
        sa.Column("window_seconds", sa.Float),
        sa.Column("description", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "traceback_answers",
        sa.Column(
            "request_id",
            sa.String(200),
            sa.ForeignKey("traceback_requests.request_id"),
            primary_key=True,
        ),
        sa.Column("answer", sa.String(30), nullable=False),
        sa.Column("upstream", sa.String(200)),
        sa.Column("customer", sa.JSON),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("needs_review", sa.Boolean, nullable=False),
        sa.Column("matches", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("times_answered", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_traceback_answers_status", "traceback_answers", ["status"])


def downgrade() -> None:
    op.drop_index("ix_traceback_answers_status", table_name="traceback_answers")
    op.drop_table("traceback_answers")
    op.drop_table("traceback_requests")
