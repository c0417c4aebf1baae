"""One detection run over a home: indicators, scores, campaigns; stored with its findings.

The orchestrator: it calls the modules below it (``queries``, ``scoring``, ``campaigns``,
``history``; the data types are in ``findings``) and none of them imports it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracehop.detection.campaigns import group_campaigns
from tracehop.detection.findings import Detection, Finding, Window
from tracehop.detection.history import customer_history
from tracehop.detection.queries import (
    caller_indicators,
    candidates_sql,
    customer_indicators,
    lake_span,
    prepare,
    segment_examples,
    segment_indicators,
)
from tracehop.detection.scoring import (
    CALLER_RULES,
    CALLER_SHOWN,
    CUSTOMER_RULES,
    FLAG_THRESHOLD,
    score,
)
from tracehop.engine import Engine, EngineLike, as_engine
from tracehop.errors import InputError
from tracehop.gcpause import gc_paused
from tracehop.settings import Settings
from tracehop.store import Store

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tracehop.store.models import DetectionRun

# Below this many attempts in the window a customer is reported but not scored: the
# published rules act after 100-120 attempts an hour; 30 keeps small customers visible.
DEFAULT_MIN_CALLS = 30
# Caller IDs with fewer attempts are not reported one by one (their customer is).
CALLER_MIN_CALLS = 5


_KIND_ORDER = {"campaign": 0, "customer": 1, "caller_id": 2}


def _order(f: Finding) -> tuple[bool, int, float, str]:
    """A run's findings in the order they are reported and stored: flagged first, then
    campaigns, customers, caller IDs, the highest score first."""
    return (not f.flagged, _KIND_ORDER[f.kind], -f.score, f.subject)


def detect_on(
    engine: EngineLike,
    window: Window,
    *,
    min_calls: int = DEFAULT_MIN_CALLS,
    threshold: float = FLAG_THRESHOLD,
    history: dict[str, dict[str, Any]] | None = None,
    dno: Iterable[str] | None = None,
    on_callers: Callable[[list[Finding], int], None] | None = None,
) -> Detection:
    """Findings for every customer that sent traffic in the window (flagged or not), scored
    on its indicators and its segments (``segments.py``), for flagged caller IDs, and for
    campaigns grouping flagged customers. ``history``: per customer indicators from the state
    DB (``history.customer_history``: tracebacks, complaints). ``dno``: Do-Not-Originate
    numbers (E.164), the ``class=dno`` segment. ``engine``: a
    :class:`tracehop.engine.Engine` or a DuckDB connection, with the views ``calls`` and
    ``customers``. ``on_callers(findings, seq)``: given the flagged caller IDs' findings as
    soon as their places in the run are known (``seq``: the first one's index in
    ``Detection.findings``), while the engine still works (:func:`run_detection` stores them
    then)."""
    engine = as_engine(engine)
    prepare(engine, window, dno=dno)
    customers = customer_indicators(engine, window, prepared=True)
    segments = segment_indicators(engine)
    # Only caller IDs that a caller rule can flag come back from the engine.
    callers = caller_indicators(
        engine,
        window,
        min_calls=CALLER_MIN_CALLS,
        prepared=True,
        where=candidates_sql(CALLER_RULES),
    )
    findings: list[Finding] = []
    for subject, values in customers.items():
        if history is not None:
            values.update({"tracebacks": 0, "complaints": 0} | history.get(subject, {}))
        s = score(
            values,
            CUSTOMER_RULES,
            segments=segments.get(subject, {}),
            threshold=threshold,
            min_calls=min_calls,
        )
        if values["calls"] < min_calls:
            s.evidence["note"] = f"fewer than {min_calls} attempts: not scored"
        findings.append(_finding("customer", subject, s, values))

    scored = list(findings)  # the customers' findings: the threads below read only these

    # The engine's statements run (without the GIL) while Python scores the caller IDs:
    # one thread on the engine at a time, so a connection that is not thread-safe is not
    # shared. 5 s less wall at 100 M calls (docs/performance.md, "100 M rows"). The
    # campaigns (they read only the customers' scores) come first: once they are known the
    # caller IDs' findings have their places in the run, and ``on_callers`` can store them
    # while the engine looks up the customers' example calls.
    with ThreadPoolExecutor(1, thread_name_prefix="detect") as pool:
        campaigns_job = pool.submit(
            group_campaigns, engine, [f for f in scored if f.flagged], window
        )
        examples_job = pool.submit(_add_examples, engine, scored, window)
        # each caller ID's indicators freed once scored: at 100 M calls they are about
        # 100,000 dicts, held while the engine's example scan fills its memory
        flagged_callers: list[Finding] = []
        for subject in list(callers):
            values = callers.pop(subject)
            s = score(
                values,
                CALLER_RULES,
                threshold=threshold,
                min_calls=CALLER_MIN_CALLS,
                shown=CALLER_SHOWN,
            )
            if s.flagged:
                flagged_callers.append(_finding("caller_id", subject, s, values))
        findings = sorted(campaigns_job.result() + findings, key=_order)
        flagged_callers.sort(key=_order)
        # every caller ID's finding is flagged: they follow the flagged campaigns and
        # customers and come before the customers not flagged
        head = sum(1 for f in findings if f.flagged)
        if on_callers is not None:
            on_callers(flagged_callers, head)
        examples_job.result()
    findings[head:head] = flagged_callers
    first = [f.first_seen for f in findings if f.first_seen]
    last = [f.last_seen for f in findings if f.last_seen]
    return Detection(
        engine=engine.name,
        window={
            "since": window.since,
            "until": window.until,
            "first_call": min(first) if first else None,
            "last_call": max(last) if last else None,
            "min_calls": min_calls,
            "threshold": threshold,
            "customers": len(customers),
            "flagged": sum(1 for f in findings if f.flagged and f.kind == "customer"),
        },
        findings=findings,
    )


def _add_examples(engine: Any, findings: list[Finding], window: Window) -> None:
    """Example call ids for every segment a rule fired on (a person can look them up)."""
    fired = [
        (f.subject, r["segment"]) for f in findings for r in f.evidence["rules"] if "segment" in r
    ]
    examples = segment_examples(engine, sorted({(s, seg["name"]) for s, seg in fired}), window)
    for subject, seg in fired:
        seg["examples"] = examples.get((subject, seg["name"]), [])


def _finding(kind: str, subject: str, s: Any, values: dict[str, Any]) -> Finding:
    return Finding(
        kind=kind,
        subject=subject,
        flagged=s.flagged,
        score=s.score,
        categories=s.categories,
        evidence=s.evidence,
        first_seen=values.get("first_seen"),
        last_seen=values.get("last_seen"),
    )


def run_detection(
    settings: Settings,
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    min_calls: int = DEFAULT_MIN_CALLS,
    threshold: float = FLAG_THRESHOLD,
    save: bool = True,
    dno: Iterable[str] | None = None,
    history_at: datetime | None = None,
) -> Detection:
    """Detect over this home's lake and store the run and its findings in the state DB.
    ``dno``: Do-Not-Originate numbers (E.164; :func:`load_dno` reads a file of them).
    ``history_at``: the traceback and complaint history counted is the 90 days before this
    (default ``until``: what was known at the window's end; a case's investigation judges the
    customers as of now, tracebacks of its calls included)."""
    from tracehop.analyst import open_analytics

    started = datetime.now(UTC)
    # One transaction for the run and its findings (nothing stored if detection fails); the
    # caller IDs' findings, nearly all of a run's, are written while the engine still looks
    # up the customers' example calls (docs/performance.md, "Issue 14, sixth pass").
    with gc_paused(), store.session() if save else nullcontext() as session:
        writer = _RunWriter(session, started) if session is not None else None
        engine = open_analytics(settings, store)  # the setting engine: duckdb or spark
        try:
            result = detect_on(
                engine,
                Window(since, until),
                min_calls=min_calls,
                threshold=threshold,
                history=customer_history(store, history_at or until),
                dno=dno,
                on_callers=writer.callers if writer is not None else None,
            )
            if save and not result.window["customers"]:
                # a run of nothing would become the latest run the dashboard shows
                raise InputError(_no_calls(engine, settings.home, since, until))
        finally:
            engine.close()
        if writer is not None:
            result.run_id = writer.finish(result)
    return result


def _no_calls(engine: Engine, home: Path, since: datetime | None, until: datetime | None) -> str:
    """Why a stored run would be empty: the window and what the lake holds."""
    first, last = lake_span(engine)
    if first is None:
        return (
            f"the lake of {home} holds no calls yet: nothing to score, no run stored "
            "(tracehop ingest FILE first, or --home the folder you ingested into)"
        )
    when = " ".join(
        f"{word} {t:%Y-%m-%d %H:%M} UTC" for word, t in (("from", since), ("until", until)) if t
    )
    return (
        f"no calls {when}: nothing to score, no run stored (the lake holds calls from "
        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC)"
    )


def load_dno(path: Path | str) -> list[str]:
    """A Do-Not-Originate list: a CSV whose ``number`` column (or first column) holds one
    number a row, in any form ``tracehop.numbers.to_e164`` reads (the Consortium's list, the
    simulator's ``dno.csv``). A number with no E.164 form is an error with its line."""
    from tracehop.csvfiles import open_csv
    from tracehop.errors import InputError
    from tracehop.numbers import to_e164

    reader, header = open_csv(path)
    if not header:
        raise InputError(f"{path}: empty: give a CSV with a 'number' column")
    column = "number" if "number" in header else header[0]
    out = []
    for line, row in enumerate(reader, start=2):
        raw = (row.get(column) or "").strip()
        number = to_e164(raw)
        if number is None:
            raise InputError(f"{path}:{line}: {raw!r} is not a phone number")
        out.append(number)
    return out


def save_run(store: Store, result: Detection, started: datetime) -> str:
    """Store a run and its findings; return the run id."""
    with store.session() as session:
        return _RunWriter(session, started).finish(result)


class _RunWriter:
    """Writes one run and its findings in a session's transaction: the caller IDs' findings
    may come first (:meth:`callers`, ``detect_on``'s ``on_callers``), the run and the rest
    at :meth:`finish`."""

    def __init__(self, session: Session, started: datetime) -> None:
        self.session = session
        self.started = started
        self.run_id = uuid.uuid4().hex
        self.run: DetectionRun | None = None
        self.early: tuple[list[Finding], int] | None = None

    def _run_row(self) -> DetectionRun:
        from tracehop.store.models import DetectionRun

        if self.run is None:
            # the row the findings refer to, first; its counts are set by finish
            self.run = DetectionRun(run_id=self.run_id, started_at=self.started,
                                    finished_at=self.started, since=None, until=None,
                                    min_calls=0, threshold=0.0, customers=0, flagged=0,
                                    engine="")  # fmt: skip
            self.session.add(self.run)
            self.session.flush()
        return self.run

    def callers(self, findings: list[Finding], seq: int) -> None:
        self._run_row()
        self._insert(findings, seq)
        self.early = (findings, seq)

    def finish(self, result: Detection) -> str:
        run = self._run_row()
        w = result.window
        run.finished_at = datetime.now(UTC)
        run.since, run.until = w["since"], w["until"]
        run.min_calls, run.threshold = w["min_calls"], w["threshold"]
        run.customers, run.flagged, run.engine = w["customers"], w["flagged"], result.engine
        findings = result.findings
        if self.early is None:
            self._insert(findings, 0)
        else:
            early, seq = self.early
            stored = findings[seq : seq + len(early)]
            if len(stored) != len(early) or any(
                a is not b for a, b in zip(stored, early, strict=True)
            ):
                raise RuntimeError("detection: the caller IDs' findings moved after storing")
            self._insert(findings[:seq], 0)
            self._insert(findings[seq + len(early) :], seq + len(early))
        self.session.flush()
        return self.run_id

    def _insert(self, findings: list[Finding], seq: int) -> None:
        from sqlalchemy import insert

        from tracehop.store.models import DetectionFinding

        if not findings:
            return
        rows = [
            {
                "run_id": self.run_id,
                "seq": seq + i,
                "kind": f.kind,
                "subject": f.subject,
                "flagged": f.flagged,
                "score": f.score,
                "categories": f.categories,
                "evidence": f.evidence,  # JSON-ready (scoring.score, campaigns)
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
            }
            for i, f in enumerate(findings)
        ]
        # Core inserts on the table, one executemany per batch, in the run's transaction: the
        # ORM's bulk insert spent as long again collecting its per-row commands as SQLite took
        # to write the rows (docs/performance.md, "Issue 14, fourth pass").
        connection = self.session.connection()
        for start in range(0, len(rows), 5000):
            connection.execute(insert(DetectionFinding.__table__), rows[start : start + 5000])
