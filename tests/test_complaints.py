"""Complaints: imported, traced to the customer in the real lake, counted by detection."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tracehop.cdr.ingest import ingest
from tracehop.complaints import complaint_history, import_complaints
from tracehop.detection.run import run_detection
from tracehop.errors import InputError
from tracehop.settings import Settings, load_settings
from tracehop.store import open_store
from tracehop.store.models import ComplaintRow

T0 = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
HEADER = "call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest"
SIM_HEADER = "complaint_id,source,caller_id,called,date,time_utc,description"


def _calls(upstream: str, n: int, first: int) -> list[str]:
    return [
        f"{upstream}-{i},{(T0 + timedelta(minutes=7 * i)).isoformat()},+16172{first + i:06d},"
        f"+13125{(first + i) * 7919 % 10**6:06d},{upstream},down,120,answered,200,A"
        for i in range(n)
    ]


@pytest.fixture
def home(tmp_path: Path, write_cdr: Callable[..., Path], state_db) -> Settings:  # type: ignore[no-untyped-def]
    """A home with calls; its state DB on SQLite and on PostgreSQL (``state_db``)."""
    settings = load_settings(home=tmp_path / "home", database_url=state_db())
    ingest(
        [write_cdr("calls.csv", [HEADER, *_calls("alpha", 40, 0), *_calls("beta", 40, 500)])],
        settings,
    )
    return settings


def _complaint(cid: str, i: int, first: int = 0) -> str:
    """A consumer's report of call ``i`` of a customer: the caller as displayed, the time to
    the minute."""
    at = T0 + timedelta(minutes=7 * i)
    n = first + i
    caller = f"617-2{n // 10000:02d}-{n % 10000:04d}"
    called = f"3125{n * 7919 % 10**6:06d}"
    return f"{cid},consumer,{caller},{called},{at.date()},{at:%H:%M},press 1 robocall"


def test_complaints_are_traced_stored_and_counted(
    home: Settings, write_cdr: Callable[..., Path], cli
) -> None:  # type: ignore[no-untyped-def]
    lines = [
        SIM_HEADER,
        _complaint("C1", 3),
        _complaint("C2", 10),
        _complaint("C3", 25),
        _complaint("C4", 5, first=500),  # beta's call
        "C5,consumer,+19995550000,3125550000,2025-03-03,14:10,never carried",
        "C6,consumer,unknown,3125550000,2025-03-03,14:10,no digits",
    ]
    path = write_cdr("complaints.csv", lines)
    store = open_store(home)
    result = import_complaints(home, store, path)
    assert (result.stored, result.matched) == (5, 4)
    assert dict(result.by_customer) == {"alpha": 3, "beta": 1}
    assert [(e.line, e.reference) for e in result.errors] == [(7, "C6")]
    assert "no digits" in result.errors[0].reason
    again = import_complaints(home, store, path)  # idempotent
    assert again.stored == 5
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(ComplaintRow)) == 5
        c5 = s.get(ComplaintRow, "C5")
        assert c5 is not None and c5.answer == "not_found" and c5.upstream is None
    until = T0 + timedelta(days=1)
    assert complaint_history(store, until) == {
        "alpha": {"complaints": 3},
        "beta": {"complaints": 1},
    }
    assert complaint_history(store, until + timedelta(days=120)) == {}  # older than 90 days
    result = run_detection(home, store, until=until, save=False)
    store.close()
    found = {f.subject: f for f in result.findings if f.kind == "customer"}
    alpha, beta = found["alpha"], found["beta"]
    assert alpha.evidence["indicators"]["complaints"] == 3
    assert [r["rule"] for r in alpha.evidence["rules"]] == ["complaints"]
    assert not alpha.flagged and alpha.score == pytest.approx(0.2)  # weak: never flags alone
    assert beta.evidence["indicators"]["complaints"] == 1 and beta.evidence["rules"] == []
    cli.home, cli.database_url = home.home, home.database_url
    data = cli.json("complaints", "import", str(path), "--json")
    assert data["stored"] == 5 and data["by_customer"] == {"alpha": 3, "beta": 1}
    assert [(e["line"], e["reference"]) for e in data["errors"]] == [(7, "C6")]


def test_a_file_without_the_columns_is_a_one_line_error(
    home: Settings, write_cdr: Callable[..., Path], cli
) -> None:  # type: ignore[no-untyped-def]
    path = write_cdr("bad.csv", ["who,when", "x,y"])
    cli.home, cli.database_url = home.home, home.database_url
    code, _out, err = cli("complaints", "import", str(path))
    assert code == 1 and err.count("\n") == 1 and "complaints need the columns" in err


@hsettings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.lists(
            st.text(alphabet='0123456789+-:() ,"TZabc\n', max_size=14), min_size=0, max_size=8
        ),
        max_size=6,
    )
)
def test_fuzzed_complaint_files_never_crash(tmp_path: Path, rows: list[list[str]]) -> None:
    import uuid

    # a fresh home per example: Hypothesis runs many examples in one tmp_path
    settings = load_settings(home=tmp_path / f"fuzz-{uuid.uuid4().hex[:8]}")
    path = tmp_path / "fuzz.csv"
    body = "\n".join(",".join(r) for r in rows)
    path.write_text(SIM_HEADER + "\n" + body + "\n")
    store = open_store(settings)
    try:
        result = import_complaints(settings, store, path)
    except InputError as exc:  # a bad file: one line, nothing stored
        assert "\n" not in exc.message
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(ComplaintRow)) == 0
    else:
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(ComplaintRow)) == result.stored
        assert result.matched == 0  # the lake is empty
    finally:
        store.close()
