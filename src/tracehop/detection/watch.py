"""``tracehop detect --watch``: re-run detection on new partitions as they land.

Incremental, not a full rescan. The ingest manifest (``ingest_manifest`` in the state DB)
names, for every ingested source file, the lake files it wrote
(``calls/day=YYYY-MM-DD/part-<ingest_id>-NNNN.parquet``). Each iteration
(:func:`watch_once`):

1. reads the manifest rows not seen by an earlier iteration (by checksum);
2. collects the UTC days their call files belong to: the *changed* days;
3. for each changed day, runs detection over the window ``[day, day + 1)`` on that day's
   Parquet files only (every file of the day, old and new: a day's verdict is over the whole
   day), and stores the run and its findings in the state DB as ``tracehop detect`` does;
4. compares the day's flagged findings with the previous run of that day and reports the
   ones that are new (not flagged before) or changed (other categories, or a score that
   moved by 0.05 or more).

The first iteration processes every day in the lake. Verdicts are per UTC day: a customer
is judged on each day's traffic, the way a daily review would. State (manifest rows seen,
the last flagged findings per day) lives in :class:`WatchState`; a restarted watch reads it
back from the state DB (:func:`resume_state`: the stored one-day runs and the manifest) and
processes only the days whose files are newer than their last run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from tracehop.detection.findings import Detection, Finding, Window
from tracehop.detection.history import customer_history
from tracehop.detection.run import DEFAULT_MIN_CALLS, detect_on, save_run
from tracehop.detection.scoring import FLAG_THRESHOLD
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.times import parse_duration, utc  # utc: SQLite hands back naive UTC

_DAY = re.compile(r"^calls/day=(\d{4}-\d{2}-\d{2})/[^/]+\.parquet$")
# A flagged finding whose score moved at least this much is reported again.
SCORE_CHANGE = 0.05


@dataclass
class WatchState:
    """What earlier iterations saw: manifest rows (by checksum) and flagged findings per
    day, ``{day: {(kind, subject): (score, categories)}}``."""

    seen: set[str] = field(default_factory=set)
    flagged: dict[date, dict[tuple[str, str], tuple[float, tuple[str, ...]]]] = field(
        default_factory=dict
    )


def resume_state(store: Store) -> WatchState:
    """The state a restarted watch continues from, read back from the state DB: a manifest
    row counts as seen when every UTC day it wrote has a stored one-day run that started
    after the row was ingested; each day's flagged findings are those of its latest run.
    Days with files newer than their last run are processed again; nothing else is."""
    from sqlalchemy import select

    from tracehop.store.models import DetectionFinding, DetectionRun, IngestManifest

    state = WatchState()
    latest: dict[date, tuple[datetime, str]] = {}
    with store.session() as s:
        for run_id, since, until, started in s.execute(
            select(
                DetectionRun.run_id, DetectionRun.since, DetectionRun.until, DetectionRun.started_at
            )
        ):
            if since is None or until is None:
                continue
            lo, hi, at = utc(since), utc(until), utc(started)
            if lo.time() != time() or hi - lo != timedelta(days=1):
                continue  # only whole-day runs stand for a day
            if lo.date() not in latest or at > latest[lo.date()][0]:
                latest[lo.date()] = (at, run_id)
        for checksum, files, ingested in s.execute(
            select(IngestManifest.checksum, IngestManifest.files, IngestManifest.ingested_at)
        ):
            days = [date.fromisoformat(m.group(1)) for f in files or [] if (m := _DAY.match(f))]
            if all(d in latest and latest[d][0] >= utc(ingested) for d in days):
                state.seen.add(checksum)
        for day, (_at, run_id) in latest.items():
            state.flagged[day] = {
                (f.kind, f.subject): (f.score, tuple(f.categories or ()))
                for f in s.scalars(
                    select(DetectionFinding).where(
                        DetectionFinding.run_id == run_id, DetectionFinding.flagged
                    )
                )
            }
    return state


@dataclass
class DayRun:
    day: date
    files: int
    detection: Detection
    new: list[Finding]  # flagged now, not flagged in the day's previous run
    changed: list[Finding]  # flagged before and now, with other categories or score


@dataclass
class WatchIteration:
    new_files: int  # manifest rows not seen before
    days: list[DayRun]

    @property
    def processed_days(self) -> list[date]:
        return [d.day for d in self.days]


def changed_days(store: Store, state: WatchState) -> tuple[int, dict[date, None]]:
    """Manifest rows not in ``state.seen`` and the UTC days of the call files they wrote;
    marks the rows as seen."""
    from sqlalchemy import select

    from tracehop.store.models import IngestManifest

    days: dict[date, None] = {}
    new = 0
    with store.session() as s:
        for checksum, files in s.execute(select(IngestManifest.checksum, IngestManifest.files)):
            if checksum in state.seen:
                continue
            new += 1
            state.seen.add(checksum)
            for rel in files or []:
                m = _DAY.match(rel)
                if m:
                    days[date.fromisoformat(m.group(1))] = None
    return new, dict(sorted(days.items()))


def watch_once(
    settings: Settings,
    store: Store,
    state: WatchState,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    min_calls: int = DEFAULT_MIN_CALLS,
    threshold: float = FLAG_THRESHOLD,
    save: bool = True,
) -> WatchIteration:
    """One watch iteration: detect on the days whose Parquet files changed since the last
    iteration (all days on the first), store the runs, report new and changed findings."""
    from tracehop.analyst import open_analytics
    from tracehop.cdr.lake import lake_of

    # the engine the settings name; opening it also completes or discards an interrupted ingest
    engine = open_analytics(settings, store)
    try:
        new_files, days = changed_days(store, state)
        lake = lake_of(settings)
        runs = []
        for day in days:
            lo = datetime.combine(day, time(), tzinfo=UTC)
            hi = lo + timedelta(days=1)
            if (since is not None and hi <= since) or (until is not None and lo >= until):
                continue
            files = lake.call_files(day.isoformat())
            if not files:
                continue
            # Only this day's files: the other days are not read at all.
            engine.register_calls(files)
            window = Window(max(lo, since) if since else lo, min(hi, until) if until else hi)
            started = datetime.now(UTC)
            result = detect_on(
                engine,
                window,
                min_calls=min_calls,
                threshold=threshold,
                history=customer_history(store, window.until),
            )
            if save:
                result.run_id = save_run(store, result, started)
            runs.append(_compare(day, len(files), result, state))
    finally:
        engine.close()
    return WatchIteration(new_files=new_files, days=runs)


def _compare(day: date, files: int, result: Detection, state: WatchState) -> DayRun:
    before = state.flagged.get(day, {})
    now: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}
    new, changed = [], []
    for f in result.findings:
        if not f.flagged:
            continue
        key = (f.kind, f.subject)
        now[key] = (f.score, tuple(f.categories))
        if key not in before:
            new.append(f)
        elif before[key][1] != now[key][1] or abs(before[key][0] - f.score) >= SCORE_CHANGE:
            changed.append(f)
    state.flagged[day] = now
    return DayRun(day=day, files=files, detection=result, new=new, changed=changed)


def parse_interval(value: str) -> float:
    """``10s``, ``2m``, ``1h`` or plain seconds (``tracehop.times``)."""
    return parse_duration(value, what="interval")
