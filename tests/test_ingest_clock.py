"""The zone check (cdr/clock.py): Asterisk writes local time beside its uniqueid, the Unix time
of the call; a file read in the wrong zone is refused before anything is stored, and read in
the right one it goes in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tracehop.analyst import query
from tracehop.cdr.clock import zones_at
from tracehop.cdr.ingest import ingest
from tracehop.errors import FormatError
from tracehop.settings import Settings


def hours(first: datetime, n: int) -> list[datetime]:
    return [first + timedelta(hours=i) for i in range(n)]


def master_csv(
    first: datetime, zone: str, n: int = 40, *, uniqueid: bool = True, times: list | None = None
) -> str:
    """Asterisk cdr_csv rows of calls an hour apart from ``first`` (UTC), their times written
    in ``zone`` as the switch does, each uniqueid the call's Unix time."""
    lines = []
    for i, start in enumerate(times or hours(first, n)):
        local = start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
        uid = f"{int(start.timestamp())}.{i}" if uniqueid else f"call-{i}"
        lines.append(
            f'"caprus","2025550143","1212555{i:04d}","from-trunk","","SIP/caprus-0000a1b2",'
            f'"SIP/telco-a-0000a1b3","Dial","SIP/telco-a","{local}","","{local}",0,0,'
            f'"NO ANSWER","DOCUMENTATION","{uid}",""'
        )
    return "\n".join(lines) + "\n"


def starts(settings: Settings) -> list[datetime]:
    rows = query("select start from calls order by call_id", settings).records()
    return sorted(r["start"].astimezone(UTC) for r in rows)


def test_local_times_read_as_utc_are_refused(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    first = datetime(2018, 11, 29, 20, 0, tzinfo=UTC)
    path = write_cdr("Master.csv", master_csv(first, "America/New_York"))
    with pytest.raises(FormatError) as err:
        ingest([path], settings, format="asterisk")
    text = str(err.value)
    assert "5:00 h behind the switch's own clock in its uniqueid" in text
    assert "40 of 40 calls" in text and "UTC-05:00" in text
    assert "--timezone America/New_York" in text and "nothing was stored" in text
    assert query("select count(*) as n from calls", settings).records()[0]["n"] == 0
    # the right zone: every call at its true time
    right = settings.model_copy(update={"timezone": "America/New_York"})
    res = ingest([path], right, format="asterisk")
    assert res.files[0].rows_ingested == 40
    assert starts(right) == hours(first, 40)


def test_a_file_across_a_change_of_summer_time(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    """Calls before and after the clocks went back (1 November 2020): one zone reads both."""
    first = datetime(2020, 10, 31, 12, 0, tzinfo=UTC)
    # not the hour the clocks repeat (01:00-02:00 local twice): a local time there is either
    times = [t for t in hours(first, 48) if not (6 <= (t - first).total_seconds() / 3600 - 12 < 8)]
    path = write_cdr("Master.csv", master_csv(first, "America/Chicago", times=times))
    with pytest.raises(FormatError, match="America/Chicago"):
        ingest([path], settings, format="asterisk")
    right = settings.model_copy(update={"timezone": "America/Chicago"})
    ingest([path], right, format="asterisk")
    assert starts(right) == times


def test_no_judgement_without_the_switchs_clock(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    """A uniqueid the dialplan replaced says nothing of the zone: the file goes in."""
    first = datetime(2018, 11, 29, 20, 0, tzinfo=UTC)
    path = write_cdr("Master.csv", master_csv(first, "America/New_York", uniqueid=False))
    assert ingest([path], settings, format="asterisk").files[0].rows_ingested == 40


def test_utc_times_go_in(settings: Settings, write_cdr) -> None:  # type: ignore[no-untyped-def]
    first = datetime(2021, 2, 7, 10, 0, tzinfo=UTC)
    path = write_cdr("Master.csv", master_csv(first, "UTC"))
    assert ingest([path], settings, format="asterisk").files[0].rows_ingested == 40


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["America/New_York", "America/Los_Angeles", "Europe/Paris", "Asia/Kolkata"]),
    st.datetimes(datetime(2015, 1, 1), datetime(2030, 1, 1)),
)
def test_the_zones_offered_have_the_offset(zone: str, when: datetime) -> None:
    offset = ZoneInfo(zone).utcoffset(when)
    assert offset is not None
    offered = zones_at(int(offset.total_seconds()), when)
    assert zone in offered or len(offered) == 3
    assert all(ZoneInfo(z).utcoffset(when) == offset for z in offered)


def test_a_layout_names_a_canonical_clock(tmp_path: Path) -> None:
    from tracehop.cdr.layouts import load_layout_file
    from tracehop.errors import InputError

    text = (
        'name = "x"\nclock = "uniqueid"\n[read]\ncolumns = ["a", "b", "c", "d"]\n'
        '[map]\nstart = "a"\ncaller = "b"\ncalled = "c"\nupstream = "d"\n'
    )
    (tmp_path / "x.toml").write_text(text)
    with pytest.raises(InputError, match="clock must be a canonical column"):
        load_layout_file(tmp_path / "x.toml")
