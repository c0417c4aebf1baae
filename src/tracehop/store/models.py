"""State DB tables. Names follow the glossary in DESIGN.md."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Integer, String, Text
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
