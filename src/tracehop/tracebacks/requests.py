"""Traceback requests as people and hubs write them: one request from text
(``make_request``), a CSV file of them (``parse_requests_csv``: a bad row is reported with its
line and the others are read), and the directory of providers the consortium knows."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tracehop.csvfiles import open_csv
from tracehop.errors import InputError
from tracehop.tracebacks.protocol import TracebackRequest, parse_at, parse_window

REQUEST_COLUMNS = ("request_id", "caller", "called", "at")
OPTIONAL_COLUMNS = ("description", "window")
_NON_DIGIT = re.compile(r"\D")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what csv and editors count as a line break


def digits(number: str) -> str:
    """The digits of a phone number as written."""
    return _NON_DIGIT.sub("", number)


@dataclass
class RowError:
    """A request row that could not be read: its line (header = 1) and why."""

    line: int
    reason: str
    request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "answer": "error",
            "upstream": None,
            "confidence": 0.0,
            "needs_review": True,
            "matches": [],
            "line": self.line,
            "error": self.reason,
        }


@dataclass
class RequestFile:
    requests: list[tuple[int, TracebackRequest]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def make_request(
    request_id: str,
    caller: str,
    called: str,
    at: str,
    *,
    window: str | None = None,
    description: str = "",
) -> TracebackRequest:
    """Build a request from text as a person or a CSV gives it; InputError says what is wrong."""
    request_id = (request_id or "").strip()
    if not request_id:
        raise InputError("request_id is empty")
    for name, number in (("caller", caller), ("called", called)):
        if not digits(number or ""):
            raise InputError(f"{name} {number!r} has no digits: give a phone number")
    when = parse_at(at)
    span = parse_window(window) if window and window.strip() else None
    try:
        return TracebackRequest(
            request_id=request_id,
            caller=caller.strip(),
            called=called.strip(),
            at=when,
            window=span,
            description=(description or "").strip(),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise InputError(f"{where}: {first.get('msg')}") from None


def parse_requests_csv(path: Path) -> RequestFile:
    """Read ``request_id, caller, called, at[, description, window]``.

    A file that cannot be read, or whose header lacks a required column, is an InputError.
    A bad row is a ``RowError`` with its line; the other rows are still read.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_requests_bytes(data, str(path))


def parse_requests_bytes(data: bytes, path: str = "requests") -> RequestFile:
    """``parse_requests_csv`` on the file's bytes (``path`` names it in messages)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text") from None
    if "\x00" in text:
        raise InputError(f"{path}: contains NUL bytes: not a CSV text file")
    # One record per physical line (as in CDR ingest): a quote left open must not swallow
    # the rows after it, and every error names the line a person sees in an editor.
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or not lines[0].strip():
        raise InputError(f"{path}: empty file (columns: {', '.join(REQUEST_COLUMNS)})")
    try:
        header = [h.strip().lower() for h in _split(lines[0])]
    except csv.Error as exc:
        raise InputError(f"{path}:1: header is not readable as CSV: {exc}") from None
    missing = [c for c in REQUEST_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"{path}: header lacks {', '.join(missing)} "
            f"(columns: {', '.join(REQUEST_COLUMNS + OPTIONAL_COLUMNS)})"
        )
    out = RequestFile()
    seen: dict[str, int] = {}
    for line, raw in enumerate(lines[1:], start=2):
        try:
            fields = _split(raw)
        except csv.Error as exc:
            why = (
                "a quoted value does not end on its line" if "end of data" in str(exc) else str(exc)
            )
            out.errors.append(RowError(line, f"not readable as CSV: {why}"))
            continue
        if not fields or all(not f.strip() for f in fields):
            continue  # blank line
        if len(fields) < len(header):  # trailing optional columns left out
            fields += [""] * (len(header) - len(fields))
        if len(fields) != len(header):
            out.errors.append(
                RowError(
                    line,
                    f"expected {len(header)} fields ({', '.join(header)}), found {len(fields)}",
                    fields[header.index("request_id")].strip() or None,
                )
            )
            continue
        row = dict(zip(header, fields, strict=True))
        rid = row["request_id"].strip() or None
        try:
            req = make_request(
                row["request_id"],
                row["caller"],
                row["called"],
                row["at"],
                window=row.get("window"),
                description=row.get("description", ""),
            )
        except InputError as exc:
            out.errors.append(RowError(line, exc.message, rid))
            continue
        if req.request_id in seen:
            out.errors.append(
                RowError(line, f"request_id repeats line {seen[req.request_id]}", rid)
            )
            continue
        seen[req.request_id] = line
        out.requests.append((line, req))
    return out


def _split(line: str) -> list[str]:
    """One CSV record from one line; csv.Error when a quote is left open."""
    rows = list(csv.reader([line], strict=True))
    return rows[0] if rows else []


def load_known_providers(path: Path) -> set[str]:
    """Provider ids a hub knows (its directory): a CSV with ``id`` and, when present,
    ``in_consortium`` (only rows marked true count, as in the simulator's directory.csv)."""
    reader, header = open_csv(path)
    if "id" not in header:
        raise InputError(f"{path}: a provider directory needs an id column")
    known: set[str] = set()
    try:
        for row in reader:
            pid = (row.get("id") or "").strip()
            flag = (row.get("in_consortium") or "true").strip().lower()
            if pid and flag in ("true", "yes", "1", "y", "t"):
                known.add(pid)
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not readable as CSV: {exc}") from None
    return known
