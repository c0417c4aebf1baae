"""The zone check: a file's start times against the Unix clock the switch writes beside them.

Most switches write times without a zone, in the zone the switch runs in (Asterisk's
``cdr_csv`` and ``cdr_adaptive_odbc`` write local time unless ``usegmtime=yes``); ingest reads
them in ``--timezone`` (UTC by default). Read in the wrong zone, every call is hours off, and a
traceback lookup at the call's true time answers "not found" with full confidence.

Some layouts carry the switch's own clock as well: Asterisk's ``uniqueid`` is
``<Unix seconds when the channel was created>.<sequence>`` (``1543540774.1234``, with an
optional ``systemname-`` prefix), taken when the call starts. A layout names such a column
with ``clock = "call_id"``, and ingest compares the two before anything is stored: when most
calls are a whole number of quarter hours apart from their Unix time, the zone is wrong, and
the file is refused with the offset measured and the zones that have it (nothing is stored:
the user ingests it again with ``--timezone``). A column whose values are not such times (a
``uniqueid`` the dialplan replaced) gives no judgement, never a refusal.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from tracehop.errors import FormatError

# Calls sampled per file; the share of them that must agree on one offset to refuse.
SAMPLE = 20_000
AGREE = 0.8
QUARTER = 900  # zones are whole quarter hours from UTC
# Zones offered first when one has the offset measured (carriers' and call centres' zones).
COMMON_ZONES = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu", "America/Puerto_Rico",
    "America/Halifax", "America/St_Johns", "America/Mexico_City", "America/Bogota",
    "America/Sao_Paulo", "Europe/London", "Europe/Paris", "Europe/Athens", "Europe/Moscow",
    "Africa/Lagos", "Africa/Cairo", "Africa/Nairobi", "Asia/Dubai", "Asia/Karachi",
    "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka", "Asia/Bangkok", "Asia/Manila",
    "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
)  # fmt: skip


def zones_at(offset_seconds: int, when: datetime, *, limit: int = 3) -> list[str]:
    """Zones whose offset from UTC at ``when`` is ``offset_seconds``."""
    delta = timedelta(seconds=offset_seconds)
    return [z for z in COMMON_ZONES if ZoneInfo(z).utcoffset(when) == delta][:limit]


def _offset_text(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    h, m = divmod(abs(seconds) // 60, 60)
    return f"UTC{sign}{h:02d}:{m:02d}"


def check_clock(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    column: str,
    zone: str,
    source: Path,
    *,
    label: str | None = None,
) -> None:
    """Refuse ``source`` (FormatError, nothing stored) when its start times, read in ``zone``,
    are a whole number of quarter hours off the Unix time in ``column`` of most calls.
    ``label``: the column's name in the file (Asterisk's ``uniqueid``), for the message."""
    if not files:
        return
    names = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    rows = con.execute(
        f"""SELECT epoch(start)::BIGINT, try_cast(regexp_extract(CAST({column} AS VARCHAR),
                   '(?:^|[^0-9])([0-9]{{9,10}})\\.[0-9]+$', 1) AS BIGINT)
            FROM read_parquet([{names}]) USING SAMPLE {SAMPLE} ROWS"""
    ).fetchall()
    diffs = [s - c for s, c in rows if s is not None and c is not None]
    if len(diffs) < 10 or len(diffs) < AGREE * len(rows):
        return  # not the switch's clock in most rows: no judgement
    offset = round(statistics.median(diffs) / QUARTER) * QUARTER
    # a file across a change of summer time has two offsets an hour apart: one zone for both
    agree = sum(min(abs(d - offset - h) for h in (-3600, 0, 3600)) <= 300 for d in diffs)
    if offset == 0 or agree < AGREE * len(diffs):
        return
    start, clock = next((s, c) for s, c in rows if c is not None and abs(s - c - offset) <= 300)
    read_as = datetime.fromtimestamp(start, UTC)
    true = datetime.fromtimestamp(clock, UTC)
    used = ZoneInfo(zone).utcoffset(true.replace(tzinfo=None)) or timedelta(0)
    local = int(used.total_seconds()) + offset  # the zone the switch wrote its times in
    suggest = zones_at(local, true.replace(tzinfo=None))
    hours = f"{abs(offset) // 3600}:{abs(offset) % 3600 // 60:02d} h"
    way = "behind" if offset < 0 else "ahead of"
    shown = read_as.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
    raise FormatError(
        f"{source}: its start times, read as {zone}, are {hours} {way} the switch's own clock "
        f"in its {label or column} ({agree} of {len(diffs)} calls sampled; e.g. {clock} is "
        f"{true:%Y-%m-%d %H:%M:%S} UTC, the file says {shown}): the switch wrote its times in "
        f"{_offset_text(local)}. Ingest it again with --timezone "
        + (" or ".join(suggest) if suggest else "ZONE (a zone at that offset)")
        + " (nothing was stored)"
    )
