"""The 24-hour traceback deadline of 47 CFR 64.1200(n)(1) with its business-hours rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracehop.tracebacks.deadlines import (
    BUSINESS_CLOSE,
    BUSINESS_OPEN,
    due_at,
    effective_receipt,
    is_business_day,
    us_federal_holidays,
)

NY = ZoneInfo("America/New_York")
ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "UTC",
]

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


def at(y: int, m: int, d: int, hh: int, mm: int = 0, zone: ZoneInfo = NY) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=zone)


def test_holidays_2025_are_the_eleven_observed_dates() -> None:
    assert sorted(us_federal_holidays(2025)) == [
        date(2025, 1, 1),
        date(2025, 1, 20),
        date(2025, 2, 17),
        date(2025, 5, 26),
        date(2025, 6, 19),
        date(2025, 7, 4),
        date(2025, 9, 1),
        date(2025, 10, 13),
        date(2025, 11, 11),
        date(2025, 11, 27),
        date(2025, 12, 25),
    ]


@pytest.mark.parametrize(
    ("holiday", "observed"),
    [
        (date(2026, 7, 4), date(2026, 7, 3)),  # Saturday -> Friday
        (date(2021, 12, 25), date(2021, 12, 24)),  # Saturday -> Friday
        (date(2022, 12, 25), date(2022, 12, 26)),  # Sunday -> Monday
        (date(2022, 1, 1), date(2021, 12, 31)),  # New Year's Day observed the year before
    ],
)
def test_weekend_holidays_are_observed_on_a_weekday(holiday: date, observed: date) -> None:
    assert observed in us_federal_holidays(observed.year)
    assert not is_business_day(observed)


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # Tuesday 10:00, a business day: exactly 24 h
        (at(2025, 3, 4, 10), at(2025, 3, 5, 10)),
        # Tuesday 7:59: counts from 8:00 the same day
        (at(2025, 3, 4, 7, 59), at(2025, 3, 5, 8)),
        # Tuesday 17:00 (closed): Wednesday 8:00 + 24 h
        (at(2025, 3, 4, 17), at(2025, 3, 6, 8)),
        # Friday 16:00: inside hours, due Saturday 16:00 (24 elapsed hours)
        (at(2025, 3, 7, 16), at(2025, 3, 8, 16)),
        # Friday 18:00: Monday 8:00 + 24 h
        (at(2025, 3, 7, 18), at(2025, 3, 11, 8)),
        # Saturday noon before Memorial Day (Mon 26 May 2025): Tuesday 8:00 + 24 h
        (at(2025, 5, 24, 12), at(2025, 5, 28, 8)),
        # Christmas Eve 2025 (Wednesday) 20:00: Christmas is closed, Friday 26th 8:00 + 24 h
        (at(2025, 12, 24, 20), at(2025, 12, 27, 8)),
    ],
)
def test_due_time_examples(received: datetime, due: datetime) -> None:
    assert due_at(received) == due.astimezone(UTC)


def test_zone_decides_business_hours() -> None:
    received = datetime(2025, 3, 4, 13, 30, tzinfo=UTC)  # 8:30 in New York, 5:30 in Los Angeles
    assert due_at(received, "America/New_York") == received + timedelta(hours=24)
    la_open = datetime(2025, 3, 4, 8, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert due_at(received, "America/Los_Angeles") == la_open.astimezone(UTC) + timedelta(hours=24)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        due_at(datetime(2025, 3, 4, 10))


@settings(max_examples=400, deadline=None)
@given(received=moments, zone=st.sampled_from(ZONES))
def test_due_is_24h_after_a_business_hours_receipt(received: datetime, zone: str) -> None:
    eff = effective_receipt(received, zone)
    due = due_at(received, zone)
    local = eff.astimezone(ZoneInfo(zone))
    assert eff >= received  # never earlier than the real receipt
    assert due - eff == timedelta(hours=24)  # 64.1200(n)(1): 24 h
    assert due >= received + timedelta(hours=24)
    assert is_business_day(local.date())
    assert BUSINESS_OPEN <= local.time() < BUSINESS_CLOSE
    if eff != received:  # moved to 8:00 of a business day, skipping no business time
        assert local.time() == BUSINESS_OPEN
        got = received.astimezone(ZoneInfo(zone))
        if got.date() == local.date():
            assert got.time() < BUSINESS_OPEN
        else:
            assert not is_business_day(got.date()) or got.time() >= BUSINESS_CLOSE
            between = got.date() + timedelta(days=1)
            while between < local.date():
                assert not is_business_day(between)
                between += timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    minute=st.integers(min_value=0, max_value=24 * 60 - 1),
)
def test_inside_business_hours_due_is_exactly_24h(day: date, minute: int) -> None:
    received = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=NY)
    inside = is_business_day(day) and BUSINESS_OPEN <= received.time() < BUSINESS_CLOSE
    assert (due_at(received) == received + timedelta(hours=24)) == inside


@settings(max_examples=200, deadline=None)
@given(received=moments, later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)))
def test_due_time_never_goes_backwards(received: datetime, later: timedelta) -> None:
    assert due_at(received + later) >= due_at(received)


@given(year=st.integers(min_value=2021, max_value=2040))
def test_every_year_has_eleven_holidays_on_weekdays(year: int) -> None:
    days = us_federal_holidays(year)
    # 11, except when next year's New Year's Day is observed on this Dec 31 (or this one's was
    # observed last Dec 31)
    assert 10 <= len(days) <= 12
    assert all(d.weekday() < 5 and d.year == year for d in days)
