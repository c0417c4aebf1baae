"""The traceback answer deadline: 24 hours, counted from the start of business hours.

47 CFR 64.1200(n)(1) (in force since 8 January 2024): a provider must respond fully to a
traceback request within 24 hours of receipt; a request received outside business hours counts
as received at 8:00 a.m. of the next business day (DOMAIN.md).

Assumptions, stated because the rule does not define them:
- business hours are 8:00 to 17:00, Monday to Friday, in the provider's own zone
  (``DEFAULT_ZONE`` unless the caller names one);
- business days exclude the eleven US federal holidays of 5 U.S.C. 6103, on their observed
  dates (a Saturday holiday is observed the Friday before, a Sunday one the Monday after);
- the 24 hours are elapsed hours, not business hours: a request received at 16:00 on a Friday
  is due at 16:00 on Saturday (24 h of real time; across a DST change the clock shows 15:00 or
  17:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "America/New_York"
BUSINESS_OPEN = time(8, 0)
BUSINESS_CLOSE = time(17, 0)
# 47 CFR 64.1200(n)(1): respond within 24 hours of receipt.
ANSWER_WITHIN = timedelta(hours=24)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (Monday = 0) of a month; n = -1 for the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:  # Saturday: the Friday before
        return day - timedelta(days=1)
    if day.weekday() == 6:  # Sunday: the Monday after
        return day + timedelta(days=1)
    return day


@lru_cache(maxsize=256)
def us_federal_holidays(year: int) -> frozenset[date]:
    """Observed dates of the US federal holidays (5 U.S.C. 6103) that fall in ``year``."""
    days: list[date] = []
    for y in (year, year + 1):  # New Year's Day of next year may be observed on Dec 31
        fixed = [date(y, 1, 1), date(y, 7, 4), date(y, 11, 11), date(y, 12, 25)]
        if y >= 2021:  # Juneteenth National Independence Day, since 2021
            fixed.append(date(y, 6, 19))
        days += [_observed(d) for d in fixed]
        days += [
            _nth_weekday(y, 1, 0, 3),  # Birthday of Martin Luther King, Jr.
            _nth_weekday(y, 2, 0, 3),  # Washington's Birthday
            _nth_weekday(y, 5, 0, -1),  # Memorial Day
            _nth_weekday(y, 9, 0, 1),  # Labor Day
            _nth_weekday(y, 10, 0, 2),  # Columbus Day
            _nth_weekday(y, 11, 3, 4),  # Thanksgiving Day
        ]
    return frozenset(d for d in days if d.year == year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in us_federal_holidays(day.year)


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)


def effective_receipt(received: datetime, zone: str | ZoneInfo = DEFAULT_ZONE) -> datetime:
    """When the 24 hours start: ``received`` itself inside business hours, else 8:00 a.m. of
    the next business day (47 CFR 64.1200(n)(1)). Returned in UTC."""
    if received.tzinfo is None:
        raise ValueError("received must carry a time zone")
    tz = _zone(zone)
    local = received.astimezone(tz)
    day = local.date()
    if is_business_day(day) and BUSINESS_OPEN <= local.time() < BUSINESS_CLOSE:
        return received.astimezone(UTC)
    if not (is_business_day(day) and local.time() < BUSINESS_OPEN):
        day += timedelta(days=1)
        while not is_business_day(day):
            day += timedelta(days=1)
    return datetime.combine(day, BUSINESS_OPEN, tzinfo=tz).astimezone(UTC)


def due_at(received: datetime, zone: str | ZoneInfo = DEFAULT_ZONE) -> datetime:
    """The answer deadline in UTC: 24 elapsed hours after the effective receipt."""
    # 47 CFR 64.1200(n)(1): 24 h from receipt, receipt moved to the next business morning.
    return effective_receipt(received, zone) + ANSWER_WITHIN
