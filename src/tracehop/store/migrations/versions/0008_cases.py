"""Cases: notices from the Commission, their deadlines, Attachment A rows, timeline, links.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(120), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("notice_kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("letter_date", sa.Date),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("recipient_detail", sa.JSON, nullable=False),
        sa.Column("sender", sa.JSON, nullable=False),
        sa.Column("role", sa.String(20)),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("source_name", sa.Text),
        sa.Column("source_sha256", sa.String(64)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("imported_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "case_deadlines",
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("due", TZ, nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("basis", sa.Text, nullable=False),
        sa.Column("amount", sa.Integer, nullable=False),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("computed", TZ, nullable=False),
        sa.Column("stated", sa.Date),
        sa.Column("met_at", TZ),
        sa.Column("met_by", sa.Text),
    )
    op.create_table(
        "case_rows",
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("customer", sa.Text, nullable=False),
        sa.Column("call_date", sa.Date, nullable=False),
        sa.Column("caller_id", sa.String(100)),
        sa.Column("called_number", sa.String(100)),
        sa.Column("description", sa.Text),
        sa.Column("violation", sa.Text),
        sa.Column("no_response", sa.Boolean, nullable=False),
        sa.Column("matched_customer", sa.String(200)),
        sa.Column("match_score", sa.Float),
        sa.Column("match_confirmed", sa.Boolean, nullable=False),
        sa.Column("investigation", sa.JSON),
    )
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])
    op.create_table(
        "case_links",
        sa.Column("case_id", sa.String(120), sa.ForeignKey("cases.case_id"), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("ref", sa.String(200), primary_key=True),
        sa.Column("note", sa.Text),
        sa.Column("at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_index("ix_case_events_case_id", "case_events")
    for table in ("case_links", "case_events", "case_rows", "case_deadlines", "cases"):
        op.drop_table(table)
