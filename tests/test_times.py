"""tracehop.times: the one duration grammar, UTC helpers and the fake clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracehop.errors import InputError
from tracehop.times import FakeClock, format_span, parse_duration, utc, utc_day

UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "": 1}


@given(
    n=st.integers(min_value=1, max_value=10_000),
    unit=st.sampled_from(sorted(UNITS)),
    space=st.sampled_from(["", " "]),
    upper=st.booleans(),
)
def test_every_unit_reads_as_its_seconds(n: int, unit: str, space: str, upper: bool) -> None:
    text = f"{n}{space}{unit.upper() if upper else unit}"
    assert parse_duration(text) == pytest.approx(n * UNITS[unit])


@given(st.text(max_size=12))
def test_anything_else_is_an_input_error_that_names_the_option(text: str) -> None:
    try:
        seconds = parse_duration(text, what="hop deadline")
    except InputError as exc:
        assert exc.message.startswith("hop deadline ")
    else:
        assert seconds > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0s", "hop deadline '0s' must be above 0"),
        ("soon", "hop deadline 'soon' is not a duration"),
        ("-1s", "hop deadline '-1s' is not a duration"),
        ("", "hop deadline '' is not a duration"),
    ],
)
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_duration(text, what="hop deadline")


def test_bounds() -> None:
    assert parse_duration("0", allow_zero=True) == 0
    assert parse_duration("24h", maximum=86400) == 86400
    with pytest.raises(InputError, match="too long: at most 24 h"):
        parse_duration("25h", maximum=86400)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86400, "24 h"), (172800, "2 d"), (7200, "2 h"), (300, "5 min"), (2.5, "2.5 s"), (90, "90 s")],
)
def test_format_span(seconds: float, text: str) -> None:
    assert format_span(seconds) == text


@given(st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])))
def test_utc_keeps_the_instant_and_reads_naive_as_utc(value: datetime) -> None:
    out = utc(value)
    assert out.tzinfo is UTC
    if value.tzinfo is None:
        assert out.replace(tzinfo=None) == value
    else:
        assert out == value
    assert utc_day(value) == out.date()
    assert utc(None) is None


def test_fake_clock_moves_only_when_told_and_is_shared_by_threads() -> None:
    clock = FakeClock(datetime(2025, 3, 3, 16, 0, tzinfo=UTC))
    assert clock.monotonic() == 0
    clock.sleep(2.5)
    clock.advance(0.5)
    assert clock.monotonic() == 3
    assert clock.now() == datetime(2025, 3, 3, 16, 0, 3, tzinfo=UTC)
    threads = [threading.Thread(target=clock.sleep, args=(1,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.monotonic() == 11 and clock.slept.count(1) == 8
