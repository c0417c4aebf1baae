"""A detection run stored in one transaction, its caller IDs' findings written while the
engine still works (detection.run._RunWriter): the stored rows are the run's findings in
their order, and a run that fails stores nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from conftest import simulated_homes
from tracehop.analyst import open_analytics
from tracehop.detection import run as detection_run
from tracehop.detection.findings import Window
from tracehop.detection.run import detect_on, run_detection
from tracehop.settings import Settings
from tracehop.store import open_store
from tracehop.store.models import DetectionFinding, DetectionRun

# In this world manila-link flags a customer and caller IDs, telco-b a campaign of two
# customers (seed 57, scale 0.05: the conftest default).
HOMES = ("manila-link", "telco-b")


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    return simulated_homes(tmp_path_factory.mktemp("detect-store"), HOMES)


@pytest.fixture
def home(homes: dict[str, Settings]) -> Settings:
    return homes["manila-link"]


def _key(kind: str, subject: str, flagged: bool, score: float) -> tuple:
    return (kind, subject, flagged, round(score, 6))


@pytest.mark.parametrize(
    ("pid", "flagged_kinds"),
    [("manila-link", {"customer", "caller_id"}), ("telco-b", {"campaign", "customer"})],
)
def test_stored_rows_are_the_runs_findings_in_order(
    homes: dict[str, Settings], pid: str, flagged_kinds: set[str]
) -> None:
    home = homes[pid]
    with open_store(home) as store:
        engine = open_analytics(home, store)
        try:
            plain = detect_on(engine, Window())  # nothing stored, no early writes
        finally:
            engine.close()
        result = run_detection(home, store)
        assert {f.kind for f in result.findings if f.flagged} == flagged_kinds
        with store.session() as s:
            run = s.get(DetectionRun, result.run_id)
            assert run is not None
            assert run.flagged == result.window["flagged"] > 0
            assert run.customers == result.window["customers"]
            assert run.engine == "duckdb" and run.finished_at >= run.started_at
            rows = s.execute(
                select(DetectionFinding)
                .where(DetectionFinding.run_id == result.run_id)
                .order_by(DetectionFinding.seq)
            ).scalars().all()  # fmt: skip
            assert [r.seq for r in rows] == list(range(len(result.findings)))
            stored = [_key(r.kind, r.subject, r.flagged, r.score) for r in rows]
            evidence = {r.subject: r.evidence for r in rows if r.kind == "customer"}
    expected = [_key(f.kind, f.subject, f.flagged, f.score) for f in result.findings]
    assert stored == expected
    # the same findings in the same order as a run that stores nothing
    assert expected == [_key(f.kind, f.subject, f.flagged, f.score) for f in plain.findings]
    # flagged first; among them campaigns, customers, caller IDs
    order = {"campaign": 0, "customer": 1, "caller_id": 2}
    keys = [(not f.flagged, order[f.kind], -f.score, f.subject) for f in result.findings]
    assert keys == sorted(keys)
    # the customers' example calls, looked up while the caller IDs were stored, are stored
    examples = [
        seg["examples"]
        for f in result.findings
        if f.kind == "customer"
        for r in evidence[f.subject]["rules"]
        if isinstance(seg := r.get("segment"), dict)
    ]
    assert examples and all(examples)


def test_a_run_that_fails_after_its_caller_ids_were_written_stores_nothing(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_examples(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the engine went away")  # the example calls' lookup fails

    with open_store(home) as store:
        with store.session() as s:
            runs_before = s.scalar(select(func.count()).select_from(DetectionRun))
            findings_before = s.scalar(select(func.count()).select_from(DetectionFinding))
        monkeypatch.setattr(detection_run, "_add_examples", failing_examples)
        calls: list[int] = []
        real = detection_run._RunWriter.callers

        def counting(self, findings, seq):  # type: ignore[no-untyped-def]
            calls.append(len(findings))
            return real(self, findings, seq)

        monkeypatch.setattr(detection_run._RunWriter, "callers", counting)
        with pytest.raises(RuntimeError, match="the engine went away"):
            run_detection(home, store)
        assert calls and calls[0] > 0  # caller IDs were written before the failure
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(DetectionRun)) == runs_before
            assert s.scalar(select(func.count()).select_from(DetectionFinding)) == findings_before


def test_a_window_without_calls_stores_no_run(home: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A run over a window the lake has no calls in would become the latest run (the
    dashboard's overview, the RMD export's last run): it is refused, with the lake's span."""
    from datetime import UTC, datetime

    from tracehop.errors import InputError

    with open_store(home) as store:
        with store.session() as s:
            runs_before = s.scalar(select(func.count()).select_from(DetectionRun))
        with pytest.raises(InputError) as info:
            run_detection(home, store, since=datetime(2030, 1, 1, tzinfo=UTC))
        assert info.value.message.startswith(
            "no calls from 2030-01-01 00:00 UTC: nothing to score, no run stored (the lake "
            "holds calls from "
        )
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(DetectionRun)) == runs_before
        # not stored (a case's investigation of a quiet day): an empty result, no error
        empty = run_detection(home, store, since=datetime(2030, 1, 1, tzinfo=UTC), save=False)
        assert empty.findings == [] and empty.window["customers"] == 0
    fresh = Settings(home=tmp_path / "new-home")
    with open_store(fresh) as store, pytest.raises(InputError, match="holds no calls yet"):
        run_detection(fresh, store)


def test_history_as_of_a_later_time_counts_later_tracebacks(provider_home: Settings) -> None:
    """Tracebacks of a day's calls are answered after that day: a detection of the day sees
    them only with ``history_at`` later than the window (a case's investigation, judged now),
    not by default (what was known when the window ended)."""
    from datetime import UTC, datetime

    from tracehop.tracebacks.requests import make_request
    from tracehop.tracebacks.responder import answer_batch

    since, until = datetime(2021, 2, 7, tzinfo=UTC), datetime(2021, 2, 8, tzinfo=UTC)
    later = datetime(2021, 3, 1, tzinfo=UTC)
    requests = [
        make_request(f"tb-{n}", "2025550143", "2125551234", "2021-02-07T10:15:03Z")
        for n in range(3)
    ]
    with open_store(provider_home) as store:
        answers = answer_batch(provider_home, requests, store=store, received_at=later)
        assert {a.upstream for a in answers} == {"caprus"}

        def caprus(**kw: object) -> list[str]:
            d = run_detection(
                provider_home, store, since=since, until=until, save=False, min_calls=1, **kw
            )
            f = next(x for x in d.findings if x.kind == "customer" and x.subject == "caprus")
            return [r["rule"] for r in f.evidence.get("rules", [])]

        assert "traceback_history" not in caprus()
        assert "traceback_history" in caprus(history_at=datetime(2021, 3, 2, tzinfo=UTC))
