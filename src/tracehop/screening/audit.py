"""The record of what screening did: every block (and every velocity alert) as one JSON line in
``HOME/screening/decisions.log`` (append-only, 0600), and optionally every block as a CDR row
(the generic layout, ``HOME/screening/cdrs/blocked-YYYY-MM-DD.csv``) that ``tracehop ingest
--format generic`` loads, so detection and reports see the calls that were stopped.

Writes happen on a thread of their own in batches: the call path only appends to a list.
``close()`` writes what is left. If the disk fails, the lines are dropped and counted (the
call path never waits for a disk), and the failure is logged.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from tracehop.screening.index import Call, Decision

log = logging.getLogger(__name__)

LOG_NAME = "decisions.log"
CDR_COLUMNS = (
    "call_id",
    "start",
    "caller",
    "called",
    "upstream",
    "disposition",
    "sip_code",
    "duration",
    "rule_id",
)


def screening_dir(home: Path) -> Path:
    d = Path(home) / "screening"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


class DecisionLog:
    """Appends block decisions and alerts; ``cdrs`` also writes blocks as CDR rows."""

    def __init__(self, folder: Path, *, cdrs: bool = False, interval: float = 0.2) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.folder / LOG_NAME
        self.cdrs = cdrs
        self.interval = interval
        self.dropped = 0
        self.written = 0
        self._pending: list[tuple[str, dict[str, object]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="screen-audit", daemon=True)
        self._thread.start()

    def block(self, call: Call, decision: Decision, at: datetime, source: str) -> None:
        entry = {
            "at": at.isoformat(),
            "event": "block",
            "source": source,
            "rule_id": decision.rule_id,
            "sip_code": decision.sip_code,
            "reason": decision.reason,
            "call_id": call.call_id,
            "caller": call.caller,
            "called": call.called,
            "upstream": call.upstream,
        }
        with self._lock:
            self._pending.append(("block", entry))

    def alert(self, alert: dict[str, object]) -> None:
        with self._lock:
            self._pending.append(("alert", {"event": "alert", **alert}))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._write(batch)
            self.written += len(batch)
        except OSError as exc:
            self.dropped += len(batch)
            log.error("screening audit: %d lines not written: %s", len(batch), exc)

    def _write(self, batch: list[tuple[str, dict[str, object]]]) -> None:
        text = "".join(json.dumps(e, default=str) + "\n" for _kind, e in batch)
        _append(self.path, text)
        if self.cdrs:
            self._write_cdrs([e for kind, e in batch if kind == "block"])

    def _write_cdrs(self, blocks: list[dict[str, object]]) -> None:
        by_day: dict[str, list[dict[str, object]]] = {}
        for e in blocks:
            by_day.setdefault(str(e["at"])[:10], []).append(e)
        folder = self.folder / "cdrs"
        folder.mkdir(exist_ok=True, mode=0o700)
        for day, rows in by_day.items():
            path = folder / f"blocked-{day}.csv"
            new = not path.exists()
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            if new:
                w.writerow(CDR_COLUMNS)
            for e in rows:
                w.writerow(
                    [
                        e["call_id"] or "",
                        e["at"],
                        e["caller"] or "",
                        e["called"] or "",
                        e["upstream"] or "",
                        "blocked",
                        e["sip_code"],
                        0,
                        e["rule_id"],
                    ]
                )
            _append(path, buf.getvalue())

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.interval)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()


def _append(path: Path, text: str) -> None:
    """One ``write`` of the whole batch to a file opened for appending: lines from several
    server processes (``--workers``) never interleave within a line."""
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def read_log(folder: Path) -> list[dict[str, object]]:
    """The decision log's entries (tests, the CLI)."""
    path = Path(folder) / LOG_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def iter_log(folder: Path) -> Iterator[dict[str, object]]:
    """The decision log's entries, oldest first, read a line at a time (the log only grows:
    the whole of it is never held in memory). A line cut short by a crash is skipped."""
    path = Path(folder) / LOG_NAME
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry


RECENT = 1000  # the latest blocked calls a tally keeps (pages show up to this many)


class LogTally:
    """Hits per rule and the latest blocks of one decision log, read incrementally: each
    call reads only the lines appended since the last one (the log only grows), so a page
    that shows hit counts does not re-read millions of lines per view. A log that shrank or
    was replaced (another inode) is read again from the start. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._reset(None)

    def _reset(self, inode: int | None) -> None:
        self._inode, self._offset = inode, 0
        self.hits: dict[int, tuple[int, str]] = {}
        self.recent: deque[dict[str, object]] = deque(maxlen=RECENT)

    def refresh(self) -> LogTally:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._reset(None)
                return self
            if st.st_ino != self._inode or st.st_size < self._offset:
                self._reset(st.st_ino)
            if st.st_size == self._offset:
                return self
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(st.st_size - self._offset)
            end = data.rfind(b"\n") + 1  # only whole lines: one being written waits
            self._offset += end
            for line in data[:end].splitlines():
                self._count(line)
            return self

    def _count(self, line: bytes) -> None:
        try:
            e = json.loads(line)
        except ValueError:  # a line cut short by a crash
            return
        if not isinstance(e, dict) or e.get("event") != "block":
            return
        self.recent.append(e)
        rule_id = e.get("rule_id")
        if isinstance(rule_id, int):
            count, last = self.hits.get(rule_id, (0, ""))
            self.hits[rule_id] = (count + 1, max(last, str(e.get("at") or "")))


_TALLIES: dict[Path, LogTally] = {}
_TALLIES_LOCK = threading.Lock()


def tally(folder: Path) -> LogTally:
    """The process's tally of ``folder``'s decision log, brought up to date."""
    path = (Path(folder) / LOG_NAME).resolve()
    with _TALLIES_LOCK:
        t = _TALLIES.setdefault(path, LogTally(path))
    return t.refresh()


def hits_by_rule(folder: Path) -> dict[int, tuple[int, str]]:
    """For each rule that blocked a call: (calls it blocked, the time of the last one, ISO 8601
    as logged). Counts the ``block`` lines of the decision log; rules in ``monitor`` mode and
    allow rules block nothing, so they have no hits here."""
    return dict(tally(folder).hits)


def recent_blocks(folder: Path, limit: int = 100) -> list[dict[str, object]]:
    """The last ``limit`` (at most ``RECENT``) blocked calls of the decision log, newest
    first."""
    recent = list(tally(folder).recent)
    return list(reversed(recent[-limit:])) if limit > 0 else []
