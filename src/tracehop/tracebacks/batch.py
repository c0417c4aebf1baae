"""Many complaints at once: read a complaints CSV (a bad row is reported with its line and
the others are traced) and trace them on a pool of workers that share one hub."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tracehop.csvfiles import open_csv
from tracehop.errors import InputError
from tracehop.tracebacks.hub import DEFAULT_HOP_TIMEOUT, Hub, hop_seconds, trace
from tracehop.tracebacks.protocol import parse_at
from tracehop.tracebacks.traces import Trace

DEFAULT_WORKERS = 8


@dataclass
class Complaint:
    line: int
    reference: str | None
    caller: str
    called: str
    at: datetime | date
    description: str = ""


@dataclass
class ComplaintError:
    line: int
    reason: str
    reference: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "reference": self.reference, "error": self.reason}


@dataclass
class BatchResult:
    traces: list[Trace] = field(default_factory=list)
    errors: list[ComplaintError] = field(default_factory=list)

    def to_json(self, *, raw: bool = False) -> dict[str, Any]:
        return {
            "traces": [t.to_json(raw=raw) for t in self.traces],
            "errors": [e.to_json() for e in self.errors],
            "outcomes": dict(sorted(Counter(t.outcome for t in self.traces).items())),
        }


def read_complaints(path: Path) -> tuple[list[Complaint], list[ComplaintError]]:
    """The simulator's complaints.csv (``complaint_id, caller_id, called, date, time_utc,
    description``) or a CSV with ``caller, called, at[, description]`` and optionally
    ``complaint_id`` / ``request_id`` / ``id``. ``at`` is a timestamp (naive = UTC) or a date.
    A bad row is reported with its line and the others are traced."""
    reader, header = open_csv(path)
    sim = {"caller_id", "called", "date"} <= set(header)
    if not sim and not {"caller", "called", "at"} <= set(header):
        raise InputError(
            f"{path}: complaints need the columns caller, called, at (or the simulator's "
            "caller_id, called, date, time_utc)"
        )
    good: list[Complaint] = []
    bad: list[ComplaintError] = []
    try:
        for row in reader:
            line = reader.line_num
            r = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not any(r.values()):
                continue
            ref = r.get("complaint_id") or r.get("request_id") or r.get("id") or None
            if None in row:
                bad.append(ComplaintError(line, "more fields than the header", ref))
                continue
            caller = r.get("caller_id" if sim else "caller", "")
            when = (
                f"{r['date']}T{r['time_utc']}:00Z" if sim and r.get("time_utc") else r.get("date")
            )
            try:
                if not any(ch.isdigit() for ch in caller):
                    raise InputError(f"caller {caller!r} has no digits")
                if not any(ch.isdigit() for ch in r.get("called", "")):
                    raise InputError(f"called {r.get('called')!r} has no digits")
                at = parse_at((when if sim else r.get("at")) or "")
            except InputError as exc:
                bad.append(ComplaintError(line, exc.message, ref))
                continue
            good.append(Complaint(line, ref, caller, r["called"], at, r.get("description", "")))
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not readable as CSV: {exc}") from None
    return good, bad


def trace_batch(
    hub: Hub,
    complaints: Path | Sequence[Complaint],
    *,
    workers: int = DEFAULT_WORKERS,
    hop_timeout: float | timedelta = DEFAULT_HOP_TIMEOUT,
    limit: int | None = None,
    shortcut: bool = False,
) -> BatchResult:
    """Trace every complaint (a CSV path or parsed complaints) with at most ``workers``
    traces at once; traces come back in file order. ``shortcut`` as for ``trace``."""
    if workers < 1:
        raise InputError("workers must be at least 1")
    seconds = hop_seconds(hop_timeout)
    if isinstance(complaints, Path | str):
        items, errors = read_complaints(Path(complaints))
    else:
        items, errors = list(complaints), []
    if limit is not None:
        items = items[:limit]
    hub.reload()

    def one(c: Complaint) -> Trace:
        return trace(
            hub,
            c.caller,
            c.called,
            c.at,
            hop_timeout=seconds,
            reference=c.reference,
            description=c.description,
            shortcut=shortcut,
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hub") as pool:
        traces = list(pool.map(one, items))
    return BatchResult(traces=traces, errors=errors)
