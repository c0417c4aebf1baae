"""``tracehop detect --watch``: each iteration re-detects only the UTC days whose Parquet
files changed since the last one (from the ingest manifest) and reports new flagged
findings."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tracehop.cdr.ingest import ingest
from tracehop.detection.watch import WatchState, parse_interval, resume_state, watch_once
from tracehop.errors import InputError
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.store.models import DetectionRun

HEADER = "call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest"
DAY1 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def rows(prefix: str, t0: datetime, upstream: str, n: int, *, bad: bool = False) -> list[str]:
    """``n`` calls from ``upstream``: legal (valid caller IDs, long answered calls) or bad
    (caller IDs with an impossible 0XX area code)."""
    out = []
    for i in range(n):
        at = (t0 + timedelta(seconds=30 * i)).isoformat().replace("+00:00", "Z")
        caller = f"+1055555{i:04d}" if bad else f"+1617555{1000 + i % 7:04d}"
        out.append(
            f"{prefix}-{i},{at},{caller},+1212555{(37 * i) % 10000:04d},{upstream},down,120,answered,200,A"
        )
    return out


@pytest.fixture
def watched(tmp_path: Path, write_cdr: Callable[..., Path]):  # type: ignore[no-untyped-def]
    settings = load_settings(home=tmp_path / "home")
    day1 = write_cdr("day1.csv", [HEADER, *rows("a", DAY1, "good-co", 60)])
    day2 = write_cdr(
        "day2.csv",
        [HEADER, *rows("b", DAY2, "good-co", 60), *rows("c", DAY2, "bad-co", 60, bad=True)],
    )
    return settings, day1, day2


def test_one_iteration_per_change_processes_only_the_new_day(watched) -> None:  # type: ignore[no-untyped-def]
    settings, day1, day2 = watched
    ingest([day1], settings)
    store = open_store(settings)
    state = WatchState()
    try:
        first = watch_once(settings, store, state)
        assert first.new_files == 1
        assert first.processed_days == [date(2025, 3, 3)]
        assert first.days[0].detection.window["customers"] == 1
        assert first.days[0].new == []  # good-co is legal

        idle = watch_once(settings, store, state)  # nothing landed
        assert idle.new_files == 0 and idle.processed_days == []

        ingest([day2], settings, store=store)
        second = watch_once(settings, store, state)
        assert second.new_files == 1
        assert second.processed_days == [date(2025, 3, 4)]  # day 1 is not read again
        run = second.days[0]
        assert run.files == 1
        assert run.detection.window["since"] == datetime(2025, 3, 4, tzinfo=UTC)
        assert run.detection.window["customers"] == 2
        new = {(f.kind, f.subject) for f in run.new}
        assert ("customer", "bad-co") in new and ("customer", "good-co") not in new
        bad = next(f for f in run.new if f.subject == "bad-co")
        assert "invalid_caller_id" in bad.categories
        assert run.changed == []
        with store.session() as s:  # each day's run is stored like tracehop detect's
            assert s.query(DetectionRun).count() == 2
    finally:
        store.close()


def test_a_restarted_watch_goes_on_where_it_stopped(watched) -> None:  # type: ignore[no-untyped-def]
    settings, day1, day2 = watched
    ingest([day1, day2], settings)
    store = open_store(settings)
    try:
        first = watch_once(settings, store, WatchState())
        assert first.processed_days == [date(2025, 3, 3), date(2025, 3, 4)]
        # a restart: the state comes back from the stored runs and the manifest
        state = resume_state(store)
        assert len(state.seen) == 2
        assert state.flagged[date(2025, 3, 4)] == {
            (f.kind, f.subject): (f.score, tuple(f.categories))
            for f in first.days[1].detection.findings
            if f.flagged
        }
        again = watch_once(settings, store, state)
        assert again.new_files == 0 and again.processed_days == []  # nothing read twice
        # a file for day 2 lands after the restart: only day 2 again, nothing "new" in it
        more = write_cdr_rows(settings, "day2b.csv", rows("d", DAY2, "good-co", 30))
        ingest([more], settings, store=store)
        later = watch_once(settings, store, resume_state(store))
        assert later.processed_days == [date(2025, 3, 4)]
        assert later.days[0].new == []  # bad-co was flagged before the restart too
    finally:
        store.close()


def write_cdr_rows(settings, name: str, lines: list[str]):  # type: ignore[no-untyped-def]
    path = settings.home.parent / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def test_cli_watch_one_iteration_json(watched, cli) -> None:  # type: ignore[no-untyped-def]
    _, day1, day2 = watched
    code, out, err = cli("ingest", str(day1), str(day2))
    assert code == 0, err
    code, out, err = cli("detect", "--watch", "--interval", "1s", "--iterations", "1", "--json")
    assert code == 0, err
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]
    assert [x["day"] for x in lines] == ["2025-03-03", "2025-03-04"]
    assert [f["subject"] for f in lines[0]["new"]] == []
    assert "bad-co" in {f["subject"] for f in lines[1]["new"]}
    code, out, err = cli("detect", "--watch", "--interval", "soon", "--iterations", "1")
    assert code != 0 and "--interval" in (out + err)


def test_parse_interval() -> None:
    assert parse_interval("10s") == 10 and parse_interval("2m") == 120
    assert parse_interval("1h") == 3600 and parse_interval("5") == 5
    with pytest.raises(InputError, match="interval '0s' must be above 0"):
        parse_interval("0s")
    with pytest.raises(InputError, match="interval 'later' is not a duration"):
        parse_interval("later")
