"""Times that carry a zone abbreviation ("15:54:56.868 PST Mon Dec 18 2017", Cisco's
h323-setup-time format, which SBCs also write): a layout's ``zones`` reads each name from a
table of offsets (the shipped ``zones`` table, or its own), never DuckDB's own reading of
names (which takes CST as Chicago's zone in summer too, and IST as India's). A name the table
does not have leaves the time unreadable: the row is rejected, not read in a wrong zone."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.detect import is_time
from tracehop.cdr.ingest import ingest
from tracehop.cdr.layouts import LAYOUT_DIR, load_layout_file, zoned
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings

ZONES: dict[str, str] = tomllib.loads((LAYOUT_DIR / "tables" / "zones.toml").read_text())["zones"]
FORMATS = '["%H:%M:%S.%f %Z %a %b %d %Y", "%H:%M:%S.%f %Z %b %d %Y"]'
LAYOUT = f"""name = "sbc"
[read]
header = true
required = ["setup"]
[map]
start = {{ field = "setup", pattern = '^[*.]?(.*)$', formats = {FORMATS}, zones = "zones" }}
duration = {{ from = "connect", to = "disconnect", formats = {FORMATS}, zones = "zones" }}
caller = "a"
called = "b"
upstream = "u"
answered = {{ stamp = "connect" }}
"""
HEAD = "setup,connect,disconnect,a,b,u\n"


def offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    path = tmp_path / "sbc.toml"
    path.write_text(LAYOUT)
    return path


def test_zone_names_are_read_from_the_table(
    settings: Settings, tmp_path: Path, layout: Path
) -> None:
    cdr = tmp_path / "sbc.csv"
    cdr.write_text(
        HEAD
        # Cisco marks a time its clock was not sure of with * (or .): the time is still read
        + "*15:54:56.868 PST Mon Dec 18 2017,15:55:00.000 PST Mon Dec 18 2017,"
        "15:56:00.000 PST Mon Dec 18 2017,2025550143,2125551234,t1\n"
        # without the weekday; summer time in Chicago: CDT, five hours behind UTC
        + "09:00:00.000 CDT Jul 4 2021,,,2025550144,2125551234,t1\n"
        # CST in summer is still six hours behind (DuckDB's own names would read it as CDT)
        + "09:00:00.000 CST Jul 4 2021,,,2025550145,2125551234,t1\n"
        # lower case, and UTC
        + ".12:00:00.000 utc Sun Jul 4 2021,,,2025550146,2125551234,t1\n"
        # IST: India, Ireland or Israel: not in the table, rejected with the time
        + "09:00:00.000 IST Jul 4 2021,,,2025550147,2125551234,t1\n"
    )
    [file] = ingest([cdr], settings, layout=layout).files
    assert (file.rows_ingested, file.rows_rejected) == (4, 1)
    assert query(
        "select caller, start, duration, disposition from calls order by caller", settings
    ).rows == [
        ("+12025550143", datetime(2017, 12, 18, 23, 54, 56, 868000, tzinfo=UTC), 60, "answered"),
        ("+12025550144", datetime(2021, 7, 4, 14, tzinfo=UTC), 0, None),
        ("+12025550145", datetime(2021, 7, 4, 15, tzinfo=UTC), 0, None),
        ("+12025550146", datetime(2021, 7, 4, 12, tzinfo=UTC), 0, None),
    ]
    assert query("select source_line, reason from rejects", settings).rows == [
        (6, 'unreadable start time "09:00:00.000 IST Jul 4 2021"')
    ]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    when=st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2037, 12, 30)),
    name=st.sampled_from(sorted(ZONES)),
)
@example(when=datetime(2021, 12, 31, 23, 30), name="NST")  # a half-hour offset, the next year
def test_every_name_of_the_table_gives_its_offset(
    tmp_path_factory: pytest.TempPathFactory, when: datetime, name: str
) -> None:
    when = when.replace(microsecond=when.microsecond // 1000 * 1000)  # milliseconds written
    home = tmp_path_factory.mktemp("home")
    layout = home / "sbc.toml"
    layout.write_text(LAYOUT)
    cdr = home / "sbc.csv"
    text = when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d} {name} "
    cdr.write_text(HEAD + text + when.strftime("%a %b %d %Y") + ",,,2025550143,2125551234,t\n")
    mine = load_settings(home=home, timezone="America/Chicago")  # not used: the name says
    assert ingest([cdr], mine, layout=layout).rows_ingested == 1
    [(start,)] = query("select start from calls", mine).rows
    assert start == when.replace(tzinfo=UTC) - offset(ZONES[name])


def test_detection_reads_the_names_as_ingest_does(tmp_path: Path, layout: Path) -> None:
    sbc = load_layout_file(layout)
    assert is_time("*15:54:56.868 PST Mon Dec 18 2017", sbc)
    assert is_time("09:00:00.000 CDT Jul 4 2021", sbc)
    assert not is_time("09:00:00.000 IST Jul 4 2021", sbc)
    assert zoned("09:00:00.000 pdt Jul 4 2021", ZONES) == "09:00:00.000 -0700 Jul 4 2021"


@pytest.mark.parametrize(
    ("zones", "message"),
    [
        ('"nowhere"', "is not a shipped table"),
        ('{ PST = "-8" }', 'give NAME = "\\+HHMM"'),
        ('{ "P S T" = "-0800" }', 'give NAME = "\\+HHMM"'),
        ("{}", "zones must be a table"),
    ],
)
def test_a_bad_zones_table_is_a_clear_error(tmp_path: Path, zones: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(LAYOUT.replace('zones = "zones" }\nduration', f"zones = {zones} }}\nduration"))
    with pytest.raises(InputError, match=message):
        load_layout_file(path)


def test_zones_need_a_format_with_a_zone_name(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(LAYOUT.replace(FORMATS, '["%H:%M:%S"]', 1))
    with pytest.raises(InputError, match="zones applies to formats that read a zone name"):
        load_layout_file(path)
