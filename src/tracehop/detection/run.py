"""One detection run over a home: indicators, scores, campaigns; stored with its findings.

The orchestrator: it calls the modules below it (``queries``, ``scoring``, ``campaigns``,
``history``; the data types are in ``findings``) and none of them imports it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tracehop.detection.campaigns import group_campaigns
from tracehop.detection.findings import Detection, Finding, Window
from tracehop.detection.history import customer_history
from tracehop.detection.queries import (
    caller_indicators,
    candidates_sql,
    customer_indicators,
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
from tracehop.engine import EngineLike, as_engine
from tracehop.gcpause import gc_paused
from tracehop.settings import Settings
from tracehop.store import Store

# Below this many attempts in the window a customer is reported but not scored: the
# published rules act after 100-120 attempts an hour; 30 keeps small customers visible.
DEFAULT_MIN_CALLS = 30
# Caller IDs with fewer attempts are not reported one by one (their customer is).
CALLER_MIN_CALLS = 5


def detect_on(
    engine: EngineLike,
    window: Window,
    *,
    min_calls: int = DEFAULT_MIN_CALLS,
    threshold: float = FLAG_THRESHOLD,
    history: dict[str, dict[str, Any]] | None = None,
    dno: Iterable[str] | None = None,
) -> Detection:
    """Findings for every customer that sent traffic in the window (flagged or not), scored
    on its indicators and its segments (``segments.py``), for flagged caller IDs, and for
    campaigns grouping flagged customers. ``history``: per customer indicators from the state
    DB (``history.customer_history``: tracebacks, complaints). ``dno``: Do-Not-Originate
    numbers (E.164), the ``class=dno`` segment. ``engine``: a
    :class:`tracehop.engine.Engine` or a DuckDB connection, with the views ``calls`` and
    ``customers``."""
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

    scored = list(findings)  # the customers' findings: the thread below reads only these

    def customers_on_engine() -> list[Finding]:
        # what reads the engine once the customers are scored: their example calls and
        # the campaigns over the flagged ones (neither reads a caller ID's finding)
        _add_examples(engine, scored, window)
        return group_campaigns(engine, [f for f in scored if f.flagged], window)

    # The engine's statements run (without the GIL) while Python scores the caller IDs:
    # one thread on the engine at a time, so a connection that is not thread-safe is not
    # shared. 5 s less wall at 100 M calls (docs/performance.md, "100 M rows").
    with ThreadPoolExecutor(1, thread_name_prefix="detect") as pool:
        on_engine = pool.submit(customers_on_engine)
        # each caller ID's indicators freed once scored: at 100 M calls they are about
        # 100,000 dicts, held while the engine's example scan fills its memory
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
                findings.append(_finding("caller_id", subject, s, values))
        findings.extend(on_engine.result())
    order = {"campaign": 0, "customer": 1, "caller_id": 2}
    findings.sort(key=lambda f: (not f.flagged, order[f.kind], -f.score, f.subject))
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
) -> Detection:
    """Detect over this home's lake and store the run and its findings in the state DB.
    ``dno``: Do-Not-Originate numbers (E.164; :func:`load_dno` reads a file of them)."""
    from tracehop.analyst import open_analytics

    started = datetime.now(UTC)
    with gc_paused():  # millions of live objects: no full collections (gcpause.py)
        engine = open_analytics(settings, store)  # the setting engine: duckdb or spark
        try:
            result = detect_on(
                engine,
                Window(since, until),
                min_calls=min_calls,
                threshold=threshold,
                history=customer_history(store, until),
                dno=dno,
            )
        finally:
            engine.close()
        if save:
            result.run_id = save_run(store, result, started)
    return result


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
    from sqlalchemy import insert

    from tracehop.store.models import DetectionFinding, DetectionRun

    run_id = uuid.uuid4().hex
    w = result.window
    with store.session() as session:
        session.add(
            DetectionRun(
                run_id=run_id,
                started_at=started,
                finished_at=datetime.now(UTC),
                since=w["since"],
                until=w["until"],
                min_calls=w["min_calls"],
                threshold=w["threshold"],
                customers=w["customers"],
                flagged=w["flagged"],
                engine=result.engine,
            )
        )
        session.flush()  # the run row first: findings refer to it
        rows = [
            {
                "run_id": run_id,
                "seq": i,
                "kind": f.kind,
                "subject": f.subject,
                "flagged": f.flagged,
                "score": f.score,
                "categories": f.categories,
                "evidence": f.evidence,  # JSON-ready (scoring.score, campaigns)
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
            }
            for i, f in enumerate(result.findings)
        ]
        # Core inserts on the table, one executemany per batch, in the run's transaction: the
        # ORM's bulk insert spent as long again collecting its per-row commands as SQLite took
        # to write the rows (docs/performance.md, "Issue 14, fourth pass").
        table = DetectionFinding.__table__
        connection = session.connection()
        for start in range(0, len(rows), 5000):
            connection.execute(insert(table), rows[start : start + 5000])
    return run_id
