"""State DB tables. Names follow the glossary in DESIGN.md."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CUSTOMER_KINDS = ("end_user", "enterprise", "call_center", "carrier")


class Base(DeclarativeBase):
    pass


class IngestManifest(Base):
    """One row per source file ingested: its checksum makes a re-ingest a no-op."""

    __tablename__ = "ingest_manifest"

    checksum: Mapped[str] = mapped_column(String(64), primary_key=True)
    ingest_id: Mapped[str] = mapped_column(String(40), unique=True)
    source_path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(200))
    rows_ingested: Mapped[int] = mapped_column(BigInteger)
    rows_rejected: Mapped[int] = mapped_column(BigInteger)
    first_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files: Mapped[list[str]] = mapped_column(JSON)  # lake files written, relative to the lake
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Customer(Base):
    """A customer of the provider; ``id`` is the value that appears as ``upstream`` in CDRs."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(20))  # one of CUSTOMER_KINDS
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    onboarded: Mapped[date | None] = mapped_column(Date)
    rmd_id: Mapped[str | None] = mapped_column(String(64))  # Robocall Mitigation Database number
    notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)


class TracebackRequestRow(Base):
    """A traceback request as received (stored before it is answered)."""

    __tablename__ = "traceback_requests"

    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    caller: Mapped[str] = mapped_column(String(100))  # as given
    called: Mapped[str] = mapped_column(String(100))
    caller_e164: Mapped[str | None] = mapped_column(String(32))
    called_e164: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # UTC
    on_date: Mapped[date | None] = mapped_column(Date)  # date-only requests
    window_seconds: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # 64.1200(n)(1)


class TracebackAnswerRow(Base):
    """The answer to a request; answering again replaces it (one per request)."""

    __tablename__ = "traceback_answers"

    request_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("traceback_requests.request_id"), primary_key=True
    )
    answer: Mapped[str] = mapped_column(String(30))  # one of the four hop answers
    upstream: Mapped[str | None] = mapped_column(String(200))
    customer: Mapped[dict | None] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    matches: Mapped[list] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # answered | needs_review
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    times_answered: Mapped[int] = mapped_column(Integer, default=1)
