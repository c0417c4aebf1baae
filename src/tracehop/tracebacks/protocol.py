"""What a traceback hop exchanges: the request a provider receives and the answer it gives.

The four answers are those of DOMAIN.md ("one traceback hop"). Times are exchanged in UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tracehop.errors import InputError
from tracehop.times import parse_duration, utc

Answer = Literal["received_from", "origin", "provider_not_listed", "not_found"]
ANSWERS: tuple[str, ...] = ("received_from", "origin", "provider_not_listed", "not_found")

# The call columns an answer shows as evidence (the glossary's names).
MATCH_COLUMNS = (
    "call_id",
    "start",
    "caller",
    "called",
    "upstream",
    "downstream",
    "disposition",
    "duration",
    "attest",
    "orig_id",
    "identity",  # the Identity header the switch logged: the hub verifies it (shortcut.py)
    "identity_status",
    "source_file",
    "source_line",
)


class TracebackRequest(BaseModel):
    """ "Who sent you this call?": caller and called as reported, and when.

    ``at`` is a timestamp (a naive one is read as UTC: times are exchanged in UTC) or, when the
    reporter only knows the day, a date. ``window`` is the tolerance around a timestamp.
    """

    request_id: str = Field(min_length=1, max_length=200)
    caller: str = Field(min_length=1, max_length=100)
    called: str = Field(min_length=1, max_length=100)
    at: datetime | date
    window: timedelta | None = None
    description: str = ""

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime | date) -> datetime | date:
        if isinstance(value, datetime):
            # stored and compared in UTC; a naive time is already UTC
            return utc(value)
        return value

    @property
    def date_only(self) -> bool:
        return not isinstance(self.at, datetime)


class HopAnswer(BaseModel):
    """One hop's answer, with the evidence a person (or the hub) can check."""

    request_id: str
    answer: Answer
    upstream: str | None = None
    customer: dict[str, Any] | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    needs_review: bool = False
    matches: list[dict[str, Any]] = Field(default_factory=list)
    reason: str = ""
    received_at: datetime | None = None
    due_at: datetime | None = None
    engine: str | None = None  # the query engine the lookup ran on: duckdb | spark

    def to_json(self) -> dict[str, Any]:
        """The stable JSON shape (docs/traceback.md)."""
        return {
            "request_id": self.request_id,
            "answer": self.answer,
            "upstream": self.upstream,
            "confidence": round(self.confidence, 3),
            "needs_review": self.needs_review,
            "matches": self.matches,
            "customer": self.customer,
            "reason": self.reason,
            "received_at": self.received_at,
            "due_at": self.due_at,
            "engine": self.engine,
        }


# A value of a match or customer record as a node sends it: a scalar, strings bounded.
Scalar = Annotated[str, StringConstraints(max_length=1000)] | int | float | bool | None
Text = Annotated[str, StringConstraints(max_length=2000)]


class NodeAnswer(BaseModel):
    """A hop answer as the hub receives it from a node: what ``HopAnswer.to_json`` sends,
    checked field by field before anything of it is stored (nodes are other people's
    systems: docs/security.md). Unknown fields are dropped."""

    model_config = ConfigDict(extra="ignore")

    request_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    answer: Answer
    upstream: Annotated[str, StringConstraints(max_length=200)] | None = None
    customer: dict[Annotated[str, StringConstraints(max_length=100)], Scalar] | None = Field(
        default=None, max_length=50
    )
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    needs_review: bool = False
    matches: list[dict[Annotated[str, StringConstraints(max_length=100)], Scalar]] = Field(
        default_factory=list, max_length=50
    )
    reason: Text = ""
    status: Annotated[str, StringConstraints(max_length=40)] | None = None
    received_at: Annotated[str, StringConstraints(max_length=64)] | None = None
    due_at: Annotated[str, StringConstraints(max_length=64)] | None = None
    engine: Annotated[str, StringConstraints(max_length=20)] | None = None  # where it ran


def parse_window(text: str) -> timedelta:
    """A match window (``90s``, ``5m``, ``1h`` or plain seconds; ``tracehop.times``), at most
    24 h."""
    return timedelta(seconds=parse_duration(text, what="window", maximum=86400, allow_zero=True))


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_at(text: str) -> datetime | date:
    """A timestamp with zone (``2025-03-03T16:50:00Z``, ``2025-03-03 11:50-05:00``; naive is
    UTC) or a date only (``2025-03-03``)."""
    s = (text or "").strip()
    if not s:
        raise InputError("time is empty: give a timestamp (2025-03-03T16:50Z) or a date")
    try:
        value: datetime | date
        if _DATE.match(s):
            value = date.fromisoformat(s)
        else:
            value = datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError:
        raise InputError(
            f"time {s!r} is not ISO 8601: give e.g. 2025-03-03T16:50:00Z or 2025-03-03"
        ) from None
    # CDRs of a live network; also keeps the search window arithmetic far from the limits
    if not 1990 <= value.year <= 2100:
        raise InputError(f"time {s!r} is outside 1990-2100")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return value
