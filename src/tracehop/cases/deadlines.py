"""A notice's deadlines: what the letter states, what arithmetic gives, and which governs.

Rules and assumptions (DOMAIN.md, 47 CFR 64.1200(k)(4) and (n)(5)-(6)):
- A deadline the letter counts in hours ("within 48 hours") runs from the letter's issuance.
  The letter is dated, not timed, so it is counted from 00:00 of the letter's date in the
  Commission's zone (``COMMISSION_ZONE``, Washington DC): the earliest reading, so the
  provider is never late by reading it later.
- A deadline in days ("within fourteen (14) days of the date of this letter") ends at the
  end (23:59:59) of the last day, in the Commission's zone; business days skip weekends and
  federal holidays (``tracehop.tracebacks.deadlines.is_business_day``).
- When the letter prints a date beside the deadline ("(March 31, 2021)"), the stated date
  governs over arithmetic; both are kept, and the basis says which was used.
Pure functions, property-tested (tests/test_cases_deadlines.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from tracehop.tracebacks.deadlines import is_business_day

COMMISSION_ZONE = "America/New_York"
END_OF_DAY = time(23, 59, 59)
# What a deadline is for, from the words around it (first match wins).
PURPOSES = (
    ("mitigat", "mitigation"),
    ("block", "blocking"),
    ("respond", "response"),
    ("inform", "report"),
    ("report", "report"),
    ("provide this information", "report"),
)


@dataclass(frozen=True)
class Deadline:
    name: str  # e.g. mitigation_48h, report_14d
    due: datetime  # aware, in COMMISSION_ZONE
    basis: str
    amount: int
    unit: str  # hours | days | business_days
    computed: datetime
    stated: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "due": self.due.isoformat(),
            "basis": self.basis,
            "amount": self.amount,
            "unit": self.unit,
            "computed": self.computed.isoformat(),
            "stated": self.stated.isoformat() if self.stated else None,
            "zone": COMMISSION_ZONE,
        }


@lru_cache(maxsize=4096)  # a text may state many deadlines: each counted once
def add_business_days(start: date, n: int) -> date:
    """The n-th business day after ``start`` (weekends and federal holidays skipped)."""
    day, left = start, n
    while left > 0:
        day += timedelta(days=1)
        if is_business_day(day):
            left -= 1
    return day


def computed_due(
    letter_date: date, amount: int, unit: str, zone: str = COMMISSION_ZONE
) -> datetime:
    """The deadline by arithmetic alone (the assumptions of this module's docstring)."""
    tz = ZoneInfo(zone)
    if unit == "hours":
        start = datetime.combine(letter_date, time(0, 0), tzinfo=tz)
        # elapsed hours: computed in UTC so a DST change does not add or lose an hour
        return (start.astimezone(ZoneInfo("UTC")) + timedelta(hours=amount)).astimezone(tz)
    if unit == "business_days":
        last = add_business_days(letter_date, amount)
    elif unit == "days":
        last = letter_date + timedelta(days=amount)
    else:
        raise ValueError(f"unknown unit {unit!r}")
    return datetime.combine(last, END_OF_DAY, tzinfo=tz)


def purpose_of(context: str, *, nearest_end: bool = True) -> str | None:
    """What a deadline is for, from the words of its clause: the purpose word nearest the
    "within" (the last one of the text before it, the first one of the text after it)."""
    text = context.lower()
    best, where = None, None
    for word, name in PURPOSES:
        at = text.rfind(word) if nearest_end else text.find(word)
        if at < 0:
            continue
        if where is None or (at > where if nearest_end else at < where):
            best, where = name, at
    return best


def deadline_name(amount: int, unit: str, purpose: str | None) -> str:
    """The name of a deadline: its purpose and length (``mitigation_48h``, ``report_14d``)."""
    short = {"hours": "h", "days": "d", "business_days": "bd"}[unit]
    return f"{purpose or 'deadline'}_{amount}{short}"


def stated_deadline(
    letter_date: date,
    amount: int,
    unit: str,
    *,
    stated: date | None = None,
    purpose: str | None = None,
    context: str = "",
    zone: str = COMMISSION_ZONE,
    rule: str | None = None,
) -> Deadline:
    """A deadline of the letter: the stated date governs when there is one. ``rule`` is the
    rule it rests on when the caller knows it (else 64.1200(k)(4), the letters' rule)."""
    computed = computed_due(letter_date, amount, unit, zone)
    name = deadline_name(amount, unit, purpose)
    if rule is not None:
        rule = f"; {rule}"
    else:
        rule = "; 47 CFR 64.1200(k)(4)" if "(k)" in context or unit != "business_days" else ""
    words = {"hours": "hours", "days": "days", "business_days": "business days"}[unit]
    if stated is not None:
        due = datetime.combine(stated, END_OF_DAY, tzinfo=ZoneInfo(zone))
        differs = "" if due.date() == computed.date() else f" (arithmetic gives {computed.date()})"
        basis = f"stated in the letter: within {amount} {words}, {stated:%B %-d, %Y}{differs}"
    else:
        due = computed
        start = "00:00 on the letter's date" if unit == "hours" else "the letter's date"
        basis = f"within {amount} {words} of {start} ({letter_date:%B %-d, %Y}), Eastern time"
    return Deadline(
        name=name,
        due=due,
        basis=basis + rule,
        amount=amount,
        unit=unit,
        computed=computed,
        stated=stated,
    )
