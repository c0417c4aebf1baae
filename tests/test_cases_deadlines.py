"""A notice's deadline arithmetic, property-tested (zones, weekends, DST, stated dates)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from tracehop.cases.deadlines import (
    COMMISSION_ZONE,
    add_business_days,
    computed_due,
    stated_deadline,
)
from tracehop.tracebacks.deadlines import is_business_day, us_federal_holidays

ET = ZoneInfo(COMMISSION_ZONE)
DATES = st.dates(date(2019, 1, 1), date(2030, 12, 31))


@given(DATES, st.sampled_from([24, 48, 72]))
def test_hours_are_elapsed_hours_from_the_start_of_the_letters_day(day: date, hours: int) -> None:
    due = computed_due(day, hours, "hours")
    start = datetime.combine(day, time(0), tzinfo=ET)
    # elapsed time, whatever a DST change in between does to the wall clock
    assert due.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=hours)
    assert due.tzinfo is not None and due.utcoffset() == due.astimezone(ET).utcoffset()


@given(DATES, st.integers(1, 60))
def test_days_end_at_the_end_of_the_last_day_in_the_commissions_zone(day: date, n: int) -> None:
    due = computed_due(day, n, "days")
    assert due.date() == day + timedelta(days=n)
    assert due.timetz().replace(tzinfo=None) == time(23, 59, 59)
    assert due.tzinfo == ET


@given(DATES, st.integers(1, 30))
def test_business_days_skip_weekends_and_federal_holidays(day: date, n: int) -> None:
    last = add_business_days(day, n)
    between = [day + timedelta(days=i) for i in range(1, (last - day).days + 1)]
    assert sum(is_business_day(d) for d in between) == n
    assert is_business_day(last) and last.weekday() < 5
    assert last not in us_federal_holidays(last.year)
    assert computed_due(day, n, "business_days").date() == last


@given(DATES, st.integers(1, 30), st.integers(-3, 3))
def test_a_stated_date_governs_and_both_are_kept(day: date, n: int, shift: int) -> None:
    stated = day + timedelta(days=n + shift)
    d = stated_deadline(day, n, "days", stated=stated, purpose="report")
    assert d.due.date() == stated and d.stated == stated
    assert d.computed == computed_due(day, n, "days")
    assert d.name == f"report_{n}d"
    assert "stated in the letter" in d.basis
    assert ("arithmetic gives" in d.basis) == (shift != 0)


def test_the_fixture_letters_deadlines() -> None:
    letter = date(2021, 3, 17)
    assert computed_due(letter, 48, "hours").isoformat() == "2021-03-19T00:00:00-04:00"
    d = stated_deadline(letter, 14, "days", stated=date(2021, 3, 31), purpose="report")
    assert d.due.isoformat() == "2021-03-31T23:59:59-04:00" and "arithmetic" not in d.basis
    # over the DST change of 2021-03-14, 48 elapsed hours from a Saturday letter
    assert computed_due(date(2021, 3, 13), 48, "hours").isoformat() == "2021-03-15T01:00:00-04:00"
