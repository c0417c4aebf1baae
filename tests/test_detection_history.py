"""Detection's store-backed and STIR/SHAKEN indicators, and campaigns linked by origination
identifier: traceback history from the state DB, failed verification from ``identity_status``,
campaigns across customers that share an ``orig_id``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tracehop.cdr.ingest import ingest
from tracehop.detection.findings import Window
from tracehop.detection.history import traceback_history
from tracehop.detection.run import detect_on, run_detection
from tracehop.engine import CALLS_SCHEMA, CUSTOMERS_SCHEMA
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.tracebacks.answers import record_answers, record_requests
from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest

T0 = datetime(2025, 3, 3, 10, 0, tzinfo=UTC)
HEADER = "call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest"


def _calls(upstream: str, n: int, first: int = 0) -> list[str]:
    """``n`` ordinary answered calls (valid, distinct numbers; nothing a rule would see)."""
    return [
        f"{upstream}-{i},{(T0 + timedelta(minutes=i)).isoformat()},+16172{first + i:06d},"
        f"+13125{(first + i) * 7919 % 10**6:06d},{upstream},down,120,answered,200,A"
        for i in range(n)
    ]


def _trace(store: object, rid: str, upstream: str, received: datetime) -> None:
    req = TracebackRequest(request_id=rid, caller="+16175550000", called="+13125550000", at=T0)
    record_requests(store, [req], received_at=received)  # type: ignore[arg-type]
    record_answers(
        store,  # type: ignore[arg-type]
        [HopAnswer(request_id=rid, answer="received_from", upstream=upstream, confidence=0.9)],
    )


def test_traceback_history_flags_a_customer_named_three_times(
    tmp_path: Path,
    write_cdr: Callable[..., Path],
    state_db,  # type: ignore[no-untyped-def]  # on SQLite and on PostgreSQL
) -> None:
    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    rows = _calls("alpha", 40) + _calls("beta", 40, first=100)
    ingest([write_cdr("calls.csv", [HEADER, *rows])], settings)
    store = open_store(settings)
    until = T0 + timedelta(days=1)
    for k in range(3):
        _trace(store, f"tb-a{k}", "alpha", until - timedelta(days=10 + k))
    _trace(store, "tb-old", "alpha", until - timedelta(days=200))  # outside the 90 days
    _trace(store, "tb-b", "beta", until - timedelta(days=3))
    history = traceback_history(store, until)
    assert history["alpha"]["tracebacks"] == 3 and history["beta"]["tracebacks"] == 1
    assert history["alpha"]["last_traceback"] == (until - timedelta(days=10)).isoformat().replace(
        "+00:00", "Z"
    )
    result = run_detection(settings, store, until=until, save=False)
    store.close()
    found = {f.subject: f for f in result.findings if f.kind == "customer"}
    alpha, beta = found["alpha"], found["beta"]
    assert alpha.flagged and alpha.categories == ["traceback_history"]
    rules = {r["rule"]: r for r in alpha.evidence["rules"]}
    assert rules["traceback_history"]["thresholds"] == [
        {"indicator": "tracebacks", "value": 3, "op": ">=", "threshold": 3}
    ]
    assert not beta.flagged and beta.score == pytest.approx(0.2)  # weak: named once
    assert [r["rule"] for r in beta.evidence["rules"]] == ["traceback_named"]


def _memory_con(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    """A connection with ``calls`` and ``customers`` tables, as ``detect_on`` needs."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE calls ({CALLS_SCHEMA})")
    con.execute(f"CREATE TABLE customers ({CUSTOMERS_SCHEMA})")
    con.executemany(
        "INSERT INTO calls (call_id, start, duration, caller, called, upstream, disposition, "
        "sip_code, attest, orig_id, identity_status, day) VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return con


def _row(i: int, upstream: str, caller: str, *, status: str | None = None, orig: str = "") -> tuple:
    at = T0 + timedelta(seconds=30 * i)
    called = f"+13125{i * 7919 % 10**6:06d}"  # scattered: no sequential dialling
    return (
        f"c{i}",
        at,
        60,
        caller,
        called,
        upstream,
        "answered",
        200,
        "A",
        orig,
        status,
        at.date(),
    )


def test_failed_verification_flags_spoofed_caller_ids() -> None:
    rows = [
        _row(i, "spoofer", f"+16172{i:06d}", status="failed" if i % 2 else "verified")
        for i in range(60)
    ] + [_row(100 + i, "clean", f"+16172{i:06d}", status="verified") for i in range(60)]
    result = detect_on(_memory_con(rows), Window())
    found = {f.subject: f for f in result.findings if f.kind == "customer"}
    assert found["spoofer"].flagged and found["spoofer"].categories == ["spoofed_caller_id"]
    ev = found["spoofer"].evidence
    assert ev["indicators"]["verify_failed_share"] == pytest.approx(0.5)
    assert [r["rule"] for r in ev["rules"]] == ["failed_verification"]
    assert not found["clean"].flagged
    assert found["clean"].evidence["indicators"]["verify_failed_share"] == 0.0


def test_campaign_links_customers_by_origination_identifier() -> None:
    # Two customers each showing invalid caller IDs (N11 area code), no caller ID in common,
    # but both signed with the same origid: one source behind both. A third flagged customer
    # with another origid stays apart.
    rows = [_row(i, "red", f"+1211{i:07d}", orig="oid-1") for i in range(40)]
    rows += [_row(100 + i, "blue", f"+1311{i:07d}", orig="oid-1") for i in range(40)]
    rows += [_row(200 + i, "green", f"+1411{i:07d}", orig="oid-9") for i in range(40)]
    result = detect_on(_memory_con(rows), Window())
    flagged = {f.subject for f in result.findings if f.kind == "customer" and f.flagged}
    assert flagged == {"red", "blue", "green"}
    campaigns = [f for f in result.findings if f.kind == "campaign"]
    assert [c.subject for c in campaigns] == ["blue+red"]
    link = campaigns[0].evidence["links"][0]
    assert link["examples"] == ["orig_id:oid-1"] and link["shared_keys"] == 3
    assert set(campaigns[0].evidence["timing"]) == {"blue", "red"}


def test_campaign_links_customers_that_walk_the_same_number_ranges() -> None:
    # Two customers with invalid caller IDs (N11) dialling the same three NPA-NXX blocks in
    # sequence, from different caller IDs and with no origid: one list behind both.
    def walk(upstream: str, start: int, npa: str) -> list[tuple]:
        out = []
        for k, block in enumerate(("+1312555", "+1415555", "+1617555")):
            for j in range(12):
                i = start + 12 * k + j
                at = T0 + timedelta(seconds=30 * i)
                called = f"{block}{j:04d}"
                out.append(
                    (
                        f"c{i}",
                        at,
                        60,
                        f"+1{npa}211{i:04d}",
                        called,
                        upstream,
                        "answered",
                        200,
                        "A",
                        "",
                        None,
                        at.date(),
                    )
                )
        return out

    rows = walk("red", 0, "617") + walk("blue", 100, "508")
    result = detect_on(_memory_con(rows), Window())
    assert {f.subject for f in result.findings if f.kind == "customer" and f.flagged} == {
        "red",
        "blue",
    }
    campaigns = [f for f in result.findings if f.kind == "campaign"]
    assert [c.subject for c in campaigns] == ["blue+red"]
    link = campaigns[0].evidence["links"][0]
    assert link["shared_keys"] == 3
    assert link["examples"] == ["range:+1312555", "range:+1415555", "range:+1617555"]
