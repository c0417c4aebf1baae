"""Customers: who a provider's upstream trunks belong to (know-your-customer, 64.1200(n)(4))."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from tracehop.errors import InputError, NotFoundError
from tracehop.store import Store
from tracehop.store.models import CUSTOMER_KINDS, Customer
from tracehop.times import SYSTEM, Clock, utc

REQUIRED = ("id", "name", "kind", "country", "onboarded")
OPTIONAL = ("rmd_id", "notes")


@dataclass
class CustomerRecord:
    id: str
    name: str
    kind: str
    country: str
    onboarded: date | None
    rmd_id: str | None = None
    notes: str | None = None

    def as_row(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_customers_csv(path: Path) -> list[CustomerRecord]:
    """Read and check a customers CSV; any bad row fails the whole file, naming its line."""
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(
                f"{path}: header lacks {', '.join(missing)} "
                f"(columns: {', '.join(REQUIRED + OPTIONAL)})"
            )
        reader.fieldnames = header
        out: list[CustomerRecord] = []
        seen: dict[str, int] = {}
        try:
            for row in reader:
                line = reader.line_num
                out.append(_parse_row(row, path, line))
                cid = out[-1].id
                if cid in seen:
                    raise InputError(f"{path}:{line}: customer id {cid!r} repeats line {seen[cid]}")
                seen[cid] = line
        except (csv.Error, UnicodeDecodeError) as exc:
            raise InputError(f"{path}:{reader.line_num}: not readable as CSV: {exc}") from exc
    return out


def _parse_row(row: dict[str, str | None], path: Path, line: int) -> CustomerRecord:
    def get(name: str) -> str:
        value = row.get(name)
        return value.strip() if isinstance(value, str) else ""

    cid = get("id")
    if not cid:
        raise InputError(f"{path}:{line}: empty id")
    kind = get("kind").lower()
    if kind not in CUSTOMER_KINDS:
        raise InputError(f"{path}:{line}: kind {kind!r} is not one of {', '.join(CUSTOMER_KINDS)}")
    country = get("country").upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        raise InputError(f"{path}:{line}: country {country!r} is not a two-letter ISO code")
    onboarded_s = get("onboarded")
    onboarded = None
    if onboarded_s:
        try:
            onboarded = date.fromisoformat(onboarded_s)
        except ValueError as exc:
            raise InputError(
                f"{path}:{line}: onboarded {onboarded_s!r} is not a date (YYYY-MM-DD)"
            ) from exc
    return CustomerRecord(
        id=cid,
        name=get("name") or cid,
        kind=kind,
        country=country,
        onboarded=onboarded,
        rmd_id=get("rmd_id") or None,
        notes=get("notes") or None,
    )


def import_customers(store: Store, records: list[CustomerRecord]) -> ImportResult:
    """Insert new customers and update changed ones, in one transaction."""
    created = updated = unchanged = 0
    now = datetime.now(UTC)
    with store.session() as s:
        existing = {c.id: c for c in s.scalars(select(Customer))}
        for rec in records:
            row = existing.get(rec.id)
            if row is None:
                s.add(Customer(**rec.as_row(), updated_at=now, version=1))
                created += 1
                continue
            changed = False
            for key, value in rec.as_row().items():
                if getattr(row, key) != value:
                    setattr(row, key, value)
                    changed = True
            if changed:
                row.updated_at = now
                row.version += 1
                updated += 1
            else:
                unchanged += 1
    return ImportResult(created=created, updated=updated, unchanged=unchanged)


def list_customers(store: Store) -> list[CustomerRecord]:
    with store.session() as s:
        rows = s.scalars(select(Customer).order_by(Customer.id)).all()
        return [
            CustomerRecord(
                id=r.id,
                name=r.name,
                kind=r.kind,
                country=r.country,
                onboarded=r.onboarded,
                rmd_id=r.rmd_id,
                notes=r.notes,
            )
            for r in rows
        ]


# --- review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """A customer under review (know-your-customer, 64.1200(n)(4)): why, since when, by whom.
    Kept by the provider alone: not in ``CustomerRecord``, so never in a traceback answer."""

    customer: str
    note: str
    since: datetime
    by: str

    def as_dict(self) -> dict[str, object]:
        return {"customer": self.customer, "note": self.note,
                "since": utc(self.since).isoformat(), "by": self.by}  # fmt: skip


def get_review(store: Store, customer: str) -> Review | None:
    """The customer's review, or None when it is not under review (or not on record)."""
    with store.session() as s:
        row = s.get(Customer, customer)
        if row is None or row.review_since is None:
            return None
        return Review(row.id, row.review_note or "", utc(row.review_since), row.review_by or "")


def set_review(store: Store, customer: str, note: str, *, by: str, clock: Clock = SYSTEM) -> Review:
    """Put a customer on record under review, with the reason; setting it again replaces the
    note and keeps the date it started."""
    note = (note or "").strip()
    if not note:
        raise InputError("say why the customer is under review (a note)")
    if len(note) > 2000:
        raise InputError("the review note is over 2,000 characters")
    now = clock.now()
    with store.session() as s:
        row = s.get(Customer, customer)
        if row is None:
            raise NotFoundError(
                f"no customer {customer!r} on record: import its record first "
                "(tracehop customers import)"
            )
        row.review_note, row.review_by = note, by
        if row.review_since is None:
            row.review_since = now
        return Review(row.id, note, utc(row.review_since), by)


def clear_review(store: Store, customer: str) -> None:
    """End a customer's review (no error when it was not under review)."""
    with store.session() as s:
        row = s.get(Customer, customer)
        if row is None:
            raise NotFoundError(f"no customer {customer!r} on record")
        row.review_note = row.review_since = row.review_by = None
