"""Time, written once: UTC helpers, one duration grammar, and the clock that code asks for
"now" and for waiting, so that tests never wait real time.

- Everything stored is UTC (DESIGN.md conventions); ``utc()`` makes a datetime aware UTC
  (naive means UTC: SQLite hands back naive datetimes).
- One duration grammar for every option and setting that takes a span of time
  (``--hop-timeout 24h``, ``--interval 10s``, a request's ``window``): a number with an
  optional unit ``ms``, ``s``/``sec``, ``m``/``min``, ``h``, ``d``; a plain number is seconds.
- ``Clock``: ``now()`` (aware UTC), ``monotonic()`` and ``sleep()``. Production code takes a
  clock argument defaulting to ``SYSTEM``; tests pass a ``FakeClock`` whose ``sleep`` moves
  time forward instead of waiting.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol, overload

from tracehop.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|m|min|mins|h|hr|d)?\s*$", re.I)
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "d": 86400.0,
}


def parse_duration(
    text: str,
    *,
    what: str = "duration",
    minimum: float = 0.0,
    maximum: float | None = None,
    allow_zero: bool = False,
) -> float:
    """Seconds in ``text`` (``90s``, ``5m``, ``24h``, ``2d``, ``250ms`` or plain seconds).

    ``what`` names the option in the error (``hop deadline``, ``window``); the value must be
    above ``minimum`` (or equal to it with ``allow_zero``) and at most ``maximum``."""
    m = _DURATION.match(text if isinstance(text, str) else "")
    if not m:
        raise InputError(f"{what} {text!r} is not a duration: use e.g. 90s, 5m, 24h or 2d")
    seconds = float(m.group(1)) * _UNIT_SECONDS[(m.group(2) or "s").lower()]
    if seconds < minimum or (seconds == minimum and not allow_zero):
        floor = "0" if minimum == 0 else format_span(minimum)
        raise InputError(f"{what} {text!r} must be above {floor}")
    if maximum is not None and seconds > maximum:
        raise InputError(f"{what} {text!r} is too long: at most {format_span(maximum)}")
    return seconds


def parse_when(value: str | None, what: str, now: datetime) -> datetime | None:
    """A time, as a span from ``now`` (``24h``, ``7d``) or ISO 8601 (a date or a time; UTC
    unless a zone is given). None or blank: None."""
    if value is None or not value.strip():
        return None
    try:
        return now + timedelta(seconds=parse_duration(value, what=what))
    except InputError:
        pass
    try:
        return utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise InputError(
            f"{what} {value!r} is neither a span (24h, 7d) nor a date or time (ISO 8601, "
            "e.g. 2025-03-03 or 2025-03-03T14:00)"
        ) from None


def format_span(seconds: float) -> str:
    """A duration as a person reads it: ``24 h``, ``5 min``, ``2.5 s``."""
    if seconds >= 2 * 86400 and seconds % 86400 == 0:  # "24 h" reads better than "1 d"
        return f"{int(seconds // 86400)} d"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime; naive values are taken as UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_iso(value: datetime) -> str:
    """ISO 8601 in UTC with an offset (``2025-03-03T16:50:00+00:00``)."""
    return utc(value).isoformat()


def utc_day(value: datetime) -> date:
    """The UTC calendar day of ``value`` (the lake's partition)."""
    return utc(value).date()


def as_timedelta(value: float | timedelta) -> timedelta:
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


class Clock(Protocol):
    """What code needs of time. ``SYSTEM`` in production; ``FakeClock`` in tests."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM: Clock = SystemClock()


class FakeClock:
    """A clock that only moves when told to: ``sleep`` and ``advance`` move it at once.

    Thread-safe, so code running on worker threads can share it. ``now()`` and
    ``monotonic()`` move together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = utc(start) if start else datetime(2025, 3, 3, 16, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += max(0.0, float(seconds))

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._elapsed += max(0.0, float(seconds))
