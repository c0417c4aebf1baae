"""The provider's traceback responder: "who sent us this call?", answered from the CDR lake.

Given a request (caller, called, a timestamp or only a date), it finds the candidate calls in
this home's ``calls`` view, ranks them, and answers with one of the four hop answers of
DOMAIN.md, from the customer record of the best candidate's ``upstream``:

- a ``carrier`` customer: ``received_from`` (``provider_not_listed`` when a directory of known
  providers is given and the carrier is not in it);
- an ``end_user``, ``enterprise`` or ``call_center`` customer: ``origin``;
- no matching call: ``not_found``.

Every request and its answer are stored in the state DB with the 24-hour due time of
47 CFR 64.1200(n)(1) (``deadlines.py``). See docs/traceback.md.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import ValidationError
from sqlalchemy import insert, select

from tracehop.analyst import jsonable, open_engine
from tracehop.csvfiles import open_csv
from tracehop.customers import CustomerRecord, list_customers
from tracehop.errors import ConflictError, InputError, StoreError
from tracehop.numbers import to_e164
from tracehop.settings import Settings
from tracehop.store import Store, open_store
from tracehop.store.models import TracebackAnswerRow, TracebackRequestRow
from tracehop.tracebacks.deadlines import DEFAULT_ZONE, due_at
from tracehop.tracebacks.protocol import (
    MATCH_COLUMNS,
    HopAnswer,
    TracebackRequest,
    parse_at,
    parse_window,
)

log = logging.getLogger(__name__)

# Tolerance around a reported timestamp: switch clocks drift (seconds) and reports give the
# minute; calls of one traced path start within seconds of each other at every hop.
DEFAULT_WINDOW = timedelta(minutes=5)
# A call this close to the reported time (a reported minute, plus clock skew) is an exact hit.
EXACT_SECONDS = 65.0
# Date-only requests: the reporter's date D is a local day somewhere in the US. The union of
# D in UTC and D in every US zone from Atlantic/Eastern (UTC-4) to Hawaii (UTC-10) runs from
# D 00:00 UTC to D+1 10:00 UTC. (Guam and the Northern Marianas, UTC+10, are not covered.)
DATE_END_AFTER = timedelta(hours=34)
DATE_SLACK = timedelta(minutes=5)  # switch clock skew at either end of the day
# Below this confidence a person confirms the answer before it goes out.
REVIEW_BELOW = 0.8
DATE_ONLY_CONFIDENCE = 0.9
MAX_MATCHES = 20
ORIGIN_KINDS = ("end_user", "enterprise", "call_center")
REQUEST_COLUMNS = ("request_id", "caller", "called", "at")
OPTIONAL_COLUMNS = ("description", "window")


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


# --- reading requests -------------------------------------------------------------------


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
        if not _digits(number or ""):
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


# --- finding and ranking candidates ------------------------------------------------------


_NON_DIGIT = re.compile(r"\D")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # what csv and editors count as a line break


def _digits(number: str) -> str:
    return _NON_DIGIT.sub("", number)


@dataclass
class Candidate:
    row: dict[str, Any]
    seconds_off: float | None  # distance from the reported time (None for date-only)
    in_day: bool = True  # date-only: inside the UTC day of the date


def search_span(request: TracebackRequest) -> tuple[datetime, datetime]:
    """The time span searched: ``at`` +- window, or the reporter's day (see DATE_END_AFTER)."""
    if isinstance(request.at, datetime):
        window = request.window if request.window is not None else DEFAULT_WINDOW
        # A reported minute covers the 60 s after it.
        at = request.at.astimezone(UTC)  # the lake's day partitions are UTC days
        return at - window, at + window + timedelta(seconds=60)
    start = datetime.combine(request.at, datetime.min.time(), tzinfo=UTC)
    return start - DATE_SLACK, start + DATE_END_AFTER + DATE_SLACK


class Responder:
    """Answers requests against one home's lake; open once, answer many."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        known_providers: Iterable[str] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.known = set(known_providers) if known_providers is not None else None
        self.customers: dict[str, CustomerRecord] = {c.id: c for c in list_customers(store)}
        self._con: duckdb.DuckDBPyConnection | None = None
        self._covered: dict[tuple[date, date], bool] = {}

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = open_engine(self.settings, self.store)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def candidates(self, request: TracebackRequest) -> list[Candidate]:
        lo, hi = search_span(request)
        caller, called = to_e164(request.caller), to_e164(request.called)
        where = ["day BETWEEN ? AND ?", "start >= ?", "start < ?"]
        params: list[object] = [lo.date(), hi.date(), lo, hi]
        # Numbers without an E.164 form (short codes, invalid caller IDs) match on digits.
        for col, e164, raw in (
            ("called", called, request.called),
            ("caller", caller, request.caller),
        ):
            if e164:
                where.append(f"{col} = ?")
                params.append(e164)
            else:
                where.append(f"{col} IS NULL AND regexp_replace({col}_raw, '[^0-9]', '', 'g') = ?")
                params.append(_digits(raw))
        sql = f"SELECT {', '.join(MATCH_COLUMNS)} FROM calls WHERE {' AND '.join(where)}"
        try:
            cur = self.con.execute(sql, params)
            rows = [dict(zip(MATCH_COLUMNS, r, strict=True)) for r in cur.fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"lake lookup failed: {str(exc).splitlines()[0]}") from exc
        out: list[Candidate] = []
        for r in rows:
            start: datetime = r["start"]
            if isinstance(request.at, datetime):
                out.append(Candidate(r, abs((start - request.at).total_seconds())))
            else:
                out.append(Candidate(r, None, start.astimezone(UTC).date() == request.at))
        return rank(out)

    def candidates_many(self, requests: Sequence[TracebackRequest]) -> dict[str, list[Candidate]]:
        """Candidates for many requests in one join (a batch scans the lake once, not once per
        request). Requests whose numbers have no E.164 form are not included: ask
        :meth:`candidates` for those."""
        rows = []
        for req in requests:
            caller, called = to_e164(req.caller), to_e164(req.called)
            if caller and called:
                lo, hi = search_span(req)
                rows.append((req.request_id, caller, called, lo, hi))
        if not rows:
            return {}
        table = pa.table(
            {
                "request_id": pa.array([r[0] for r in rows], pa.string()),
                "caller": pa.array([r[1] for r in rows], pa.string()),
                "called": pa.array([r[2] for r in rows], pa.string()),
                "lo": pa.array([r[3] for r in rows], pa.timestamp("us", tz="UTC")),
                "hi": pa.array([r[4] for r in rows], pa.timestamp("us", tz="UTC")),
            }
        )
        first = min(r[3] for r in rows).date()
        last = max(r[4] for r in rows).date()
        cols = ", ".join(f"c.{c}" for c in MATCH_COLUMNS)
        con = self.con
        con.register("th_requests", table)
        try:
            # First the calls to any called number asked about (a semi-join that reads one
            # column of the lake), then the exact join on that small set.
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE th_candidates AS
                    SELECT {cols} FROM calls c
                    WHERE c.day BETWEEN ? AND ?
                      AND c.called IN (SELECT DISTINCT called FROM th_requests)""",
                [first, last],
            )
            cur = con.execute(
                f"""SELECT r.request_id, {cols} FROM th_requests r
                    JOIN th_candidates c ON c.called = r.called AND c.caller = r.caller
                     AND c.start >= r.lo AND c.start < r.hi"""
            )
            found = cur.fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"lake lookup failed: {str(exc).splitlines()[0]}") from exc
        finally:
            con.unregister("th_requests")
            con.execute("DROP TABLE IF EXISTS th_candidates")
        by_id = {req.request_id: req for req in requests}
        out: dict[str, list[Candidate]] = {r[0]: [] for r in rows}
        for rec in found:
            row = dict(zip(MATCH_COLUMNS, rec[1:], strict=True))
            req = by_id[rec[0]]
            start: datetime = row["start"]
            if isinstance(req.at, datetime):
                out[rec[0]].append(Candidate(row, abs((start - req.at).total_seconds())))
            else:
                out[rec[0]].append(Candidate(row, None, start.astimezone(UTC).date() == req.at))
        return {rid: rank(c) for rid, c in out.items()}

    def answer_many(self, requests: Sequence[TracebackRequest]) -> list[HopAnswer]:
        """Answer a batch: one join for the candidates, then each answer as :meth:`answer`."""
        found = self.candidates_many(requests)
        return [
            self._from_candidates(req, found[req.request_id])
            if req.request_id in found
            else self.answer(req)
            for req in requests
        ]

    def covered(self, request: TracebackRequest) -> bool:
        """Whether the lake holds any call for the days searched (a not_found is only
        meaningful when it does)."""
        lo, hi = search_span(request)
        key = (lo.date(), hi.date())
        if key not in self._covered:
            n = self.con.execute(
                "SELECT count(*) FROM calls WHERE day BETWEEN ? AND ?", list(key)
            ).fetchone()
            self._covered[key] = bool(n and n[0])
        return self._covered[key]

    def answer(self, request: TracebackRequest) -> HopAnswer:
        return self._from_candidates(request, self.candidates(request))

    def _from_candidates(self, request: TracebackRequest, found: list[Candidate]) -> HopAnswer:
        if not found:
            if self.covered(request):
                return HopAnswer(
                    request_id=request.request_id,
                    answer="not_found",
                    confidence=1.0,
                    reason="no call from this caller to this called number in the time searched",
                )
            return HopAnswer(
                request_id=request.request_id,
                answer="not_found",
                confidence=0.3,
                needs_review=True,
                reason="the lake holds no calls at all for the days searched: "
                "ingest the CDRs of that time before answering",
            )
        return self._decide(request, found)

    def _decide(self, request: TracebackRequest, found: list[Candidate]) -> HopAnswer:
        best = found[0]
        upstream = best.row["upstream"]
        # One weight per distinct upstream, from its best candidate.
        weights: dict[str, float] = {}
        for c in found:
            weights.setdefault(c.row["upstream"], _closeness(request, c))
        share = weights[upstream] / sum(weights.values())
        confidence = _closeness(request, best) * share
        reasons: list[str] = []
        if len(weights) > 1:
            others = ", ".join(sorted(str(u) for u in weights if u != upstream))
            reasons.append(f"other upstreams also match: {others}")
        answer, customer, why, sure = self._classify(upstream)
        if why:
            reasons.append(why)
        if not sure:
            confidence = min(confidence, 0.5)
        needs_review = len(weights) > 1 or confidence < REVIEW_BELOW
        return HopAnswer(
            request_id=request.request_id,
            answer=answer,
            upstream=upstream,
            customer=customer,
            confidence=round(max(0.0, min(1.0, confidence)), 3),
            needs_review=needs_review,
            matches=[_match_json(c) for c in found[:MAX_MATCHES]],
            reason="; ".join(reasons),
        )

    def _classify(self, upstream: str) -> tuple[str, dict[str, Any] | None, str, bool]:
        """(answer, customer record, reason, sure) from the upstream's customer record."""
        rec = self.customers.get(upstream)
        customer = _customer_json(rec) if rec else None
        if rec is None:
            if self.known is not None and upstream in self.known:
                return "received_from", None, "", True
            # A trunk without a customer record: our side of it, but a person must say whose.
            return "origin", None, f"upstream {upstream!r} has no customer record", False
        if rec.kind == "carrier":
            if self.known is not None and upstream not in self.known:
                # DOMAIN.md answer 2: a provider the consortium does not know.
                return "provider_not_listed", customer, "", True
            return "received_from", customer, "", True
        if rec.kind in ORIGIN_KINDS:
            return "origin", customer, "", True
        return "origin", customer, f"customer kind {rec.kind!r} is unknown", False


def rank(found: list[Candidate]) -> list[Candidate]:
    """Closest to the reported time first; for a date, calls inside the UTC day first, then
    answered calls (what a person reports), then by start."""
    if found and found[0].seconds_off is None:
        return sorted(
            found,
            key=lambda c: (
                not c.in_day,
                c.row["disposition"] != "answered",
                c.row["start"],
                str(c.row["call_id"]),
            ),
        )
    return sorted(found, key=lambda c: (c.seconds_off, str(c.row["call_id"])))


def _closeness(request: TracebackRequest, c: Candidate) -> float:
    """1.0 for a call within the reported minute (plus skew), falling to 0.5 at the window's
    edge; date-only requests cannot be closer than DATE_ONLY_CONFIDENCE."""
    if c.seconds_off is None:
        return DATE_ONLY_CONFIDENCE if c.in_day else DATE_ONLY_CONFIDENCE - 0.1
    if c.seconds_off <= EXACT_SECONDS:
        return 1.0
    window = (request.window or DEFAULT_WINDOW).total_seconds() + 60
    extra = (c.seconds_off - EXACT_SECONDS) / max(window - EXACT_SECONDS, 1.0)
    return max(0.5, 1.0 - 0.5 * min(extra, 1.0))


def _match_json(c: Candidate) -> dict[str, Any]:
    out = {k: jsonable(v) for k, v in c.row.items()}
    if c.seconds_off is not None:
        out["seconds_off"] = round(c.seconds_off, 1)
    return out


def _customer_json(rec: CustomerRecord) -> dict[str, Any]:
    return {k: jsonable(v) for k, v in rec.as_row().items()}


# --- storing ------------------------------------------------------------------------------


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def record_requests(
    store: Store,
    requests: Sequence[TracebackRequest],
    *,
    received_at: datetime,
    business_zone: str = DEFAULT_ZONE,
    owner: str | None = None,
) -> dict[str, tuple[datetime, datetime]]:
    """Store requests before they are answered (a crash loses no request). A request id seen
    before keeps its first receipt and due time and takes the new details. Returns each
    request's (received_at, due_at)."""
    ids = [req.request_id for req in requests]
    out: dict[str, tuple[datetime, datetime]] = {}
    with store.session() as s:
        old = {
            r.request_id: r
            for r in s.scalars(
                select(TracebackRequestRow).where(TracebackRequestRow.request_id.in_(ids))
            )
        }
        due = due_at(received_at, business_zone)  # 47 CFR 64.1200(n)(1): same for the batch
        new: dict[str, dict[str, Any]] = {}  # first seen now: one bulk INSERT, last details win
        for req in requests:
            details = {
                "caller": req.caller,
                "called": req.called,
                "caller_e164": to_e164(req.caller),
                "called_e164": to_e164(req.called),
                "at": req.at.astimezone(UTC) if isinstance(req.at, datetime) else None,
                "on_date": None if isinstance(req.at, datetime) else req.at,
                "window_seconds": req.window.total_seconds() if req.window is not None else None,
                "description": req.description or None,
            }
            row = old.get(req.request_id)
            if row is None:
                # 24 h, counted from the next business morning (deadlines.due_at).
                new[req.request_id] = {
                    "request_id": req.request_id,
                    "owner": owner,
                    "received_at": received_at,
                    "due_at": due,
                    **details,
                }
                out[req.request_id] = (received_at, due)
                continue
            if row.owner != owner:
                # A request id belongs to whoever sent it first: nobody else may change it.
                raise ConflictError(
                    f"request id {req.request_id!r} is already used by another requester"
                )
            for key, value in details.items():
                setattr(row, key, value)
            out[req.request_id] = (_aware(row.received_at), _aware(row.due_at))  # type: ignore[assignment]
        if new:
            s.execute(insert(TracebackRequestRow), list(new.values()))
    return out


def record_answers(
    store: Store, answers: Sequence[HopAnswer], *, status: str | None = None
) -> None:
    """Store answers (one per request: answering again replaces it and counts). ``status``
    overrides answered/needs_review (review-first mode stores ``pending_review``)."""
    now = datetime.now(UTC)
    ids = [a.request_id for a in answers]
    with store.session() as s:
        old = {
            r.request_id: r
            for r in s.scalars(
                select(TracebackAnswerRow).where(TracebackAnswerRow.request_id.in_(ids))
            )
        }
        new: dict[str, dict[str, Any]] = {}  # not answered before: one bulk INSERT
        for ans in answers:
            details = {
                "answer": ans.answer,
                "upstream": ans.upstream,
                "customer": ans.customer,
                "confidence": ans.confidence,
                "needs_review": ans.needs_review,
                "matches": ans.matches,
                "reason": ans.reason or None,
                "status": status or ("needs_review" if ans.needs_review else "answered"),
                "answered_at": now,
            }
            a = old.get(ans.request_id)
            if a is not None:
                for key, value in details.items():
                    setattr(a, key, value)
                a.times_answered = (a.times_answered or 0) + 1
                continue
            times = new[ans.request_id]["times_answered"] + 1 if ans.request_id in new else 1
            new[ans.request_id] = {"request_id": ans.request_id, **details, "times_answered": times}
        if new:
            s.execute(insert(TracebackAnswerRow), list(new.values()))


def stored_answers(store: Store) -> list[dict[str, Any]]:
    """Every stored request with its answer, oldest first (for review and reports)."""
    with store.session() as s:
        rows = s.execute(
            select(TracebackRequestRow, TracebackAnswerRow)
            .join(
                TracebackAnswerRow, TracebackAnswerRow.request_id == TracebackRequestRow.request_id
            )
            .order_by(TracebackRequestRow.received_at, TracebackRequestRow.request_id)
        ).all()
        return [
            {
                "request_id": r.request_id,
                "caller": r.caller,
                "called": r.called,
                "at": _aware(r.at),
                "on_date": r.on_date,
                "received_at": _aware(r.received_at),
                "due_at": _aware(r.due_at),
                "answered_at": _aware(a.answered_at),
                "answer": a.answer,
                "upstream": a.upstream,
                "confidence": a.confidence,
                "needs_review": a.needs_review,
                "status": a.status,
                "times_answered": a.times_answered,
                "matches": a.matches,
            }
            for r, a in rows
        ]


# --- the library entry points ----------------------------------------------------------------


def answer_batch(
    settings: Settings,
    requests: Sequence[TracebackRequest],
    *,
    store: Store | None = None,
    known_providers: Iterable[str] | None = None,
    received_at: datetime | None = None,
    business_zone: str = DEFAULT_ZONE,
) -> list[HopAnswer]:
    """Answer many requests with one engine; store every request and answer."""
    received_at = (received_at or datetime.now(UTC)).astimezone(UTC)
    own = store is None
    store = store or open_store(settings)
    try:
        times = record_requests(
            store, requests, received_at=received_at, business_zone=business_zone
        )
        responder = Responder(settings, store, known_providers=known_providers)
        try:
            answers = responder.answer_many(requests)
        finally:
            responder.close()
        for ans in answers:
            ans.received_at, ans.due_at = times[ans.request_id]
        record_answers(store, answers)
    finally:
        if own:
            store.close()
    log.info("answered %d traceback requests", len(answers))
    return answers


def lookup(
    settings: Settings,
    request: TracebackRequest,
    *,
    store: Store | None = None,
    known_providers: Iterable[str] | None = None,
    received_at: datetime | None = None,
    business_zone: str = DEFAULT_ZONE,
) -> HopAnswer:
    """Answer one request (and store it)."""
    return answer_batch(
        settings,
        [request],
        store=store,
        known_providers=known_providers,
        received_at=received_at,
        business_zone=business_zone,
    )[0]


def confirm(store: Store, request_id: str, *, upstream: str | None = None) -> dict[str, Any]:
    """A person confirms a stored answer (review-first mode, or one that needs review); with
    ``upstream`` they correct who sent the call. The node then gives it to the hub."""
    from tracehop.errors import NotFoundError

    with store.session() as s:
        row = s.get(TracebackAnswerRow, request_id)
        if row is None:
            raise NotFoundError(f"no answered traceback request {request_id!r}")
        if upstream is not None and upstream != row.upstream:
            row.upstream = upstream
            row.matches = [m for m in row.matches if m.get("upstream") == upstream]
            row.reason = ((row.reason + "; ") if row.reason else "") + "upstream set by a person"
        row.needs_review = False
        row.status = "answered"
        row.answered_at = datetime.now(UTC)
        return {"request_id": request_id, "status": row.status, "upstream": row.upstream}
