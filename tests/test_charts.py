"""The server-drawn SVG charts: which days the time axis names."""

from __future__ import annotations

import itertools
import re
from datetime import date, timedelta

import pytest

from tracehop.charts import line_chart


def axis_days(days: int, mark: date | None = None) -> list[str]:
    points = [(date(2025, 3, 1) + timedelta(days=i), float(i)) for i in range(days)]
    return re.findall(r">(\d{4}-\d\d-\d\d)<", line_chart({"calls": points}, label="x", mark=mark))


@pytest.mark.parametrize(
    ("days", "named"),
    [
        (1, ["2025-03-01"]),
        # the overview's three days: the middle one is named too
        (3, ["2025-03-01", "2025-03-02", "2025-03-03"]),
        (7, ["2025-03-01", "2025-03-03", "2025-03-05", "2025-03-07"]),
    ],
)
def test_the_axis_names_days_between_the_first_and_last(days: int, named: list[str]) -> None:
    assert axis_days(days) == named


def test_a_long_axis_names_a_few_days_evenly_and_never_two_close() -> None:
    named = [date.fromisoformat(d) for d in axis_days(90)]
    assert named[0] == date(2025, 3, 1) and named[-1] == date(2025, 5, 29)
    assert 4 <= len(named) <= 7
    gaps = [(b - a).days for a, b in itertools.pairwise(named)]
    assert min(gaps) >= 9  # half the 18-day step at least
    # a mitigation mark after the data is named, and no label crowds it
    marked = [date.fromisoformat(d) for d in axis_days(7, mark=date(2025, 3, 10))]
    assert marked[-1] == date(2025, 3, 10)
    assert all((b - a).days >= 1 for a, b in itertools.pairwise(marked))


def test_the_traffic_bars_name_every_day_that_fits() -> None:
    """The overview's bars a day: three days are all named (the middle one was not)."""
    from tracehop.charts import stacked_bars

    def named(days: int) -> list[date]:
        rows = [(date(2025, 3, 1) + timedelta(days=i), "answered", 10.0) for i in range(days)]
        svg = stacked_bars(rows, label="x")
        return [date.fromisoformat(d) for d in re.findall(r">(\d{4}-\d\d-\d\d)<", svg)]

    assert named(3) == [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
    many = named(90)
    assert many[0] == date(2025, 3, 1) and many[-1] == date(2025, 5, 29)
    assert 5 <= len(many) <= 10 and min((b - a).days for a, b in itertools.pairwise(many)) >= 5
