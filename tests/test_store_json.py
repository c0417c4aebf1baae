"""The state DB's JSON columns (orjson, tracehop.store.jsontext) on SQLite
and PostgreSQL, and the paused garbage collector of bulk runs (tracehop.gcpause)."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tracehop.gcpause import gc_paused
from tracehop.settings import load_settings
from tracehop.store import open_store
from tracehop.store.jsontext import json_dumps, json_loads
from tracehop.store.models import DetectionFinding, DetectionRun

# What evidence holds: strings, 64-bit integers, finite floats, booleans, None, lists, dicts.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_values)
@settings(max_examples=300, deadline=None)
def test_json_columns_read_back_what_was_written(value: object) -> None:
    text = json_dumps(value)
    assert json_loads(text) == value
    assert json.loads(text) == value  # standard JSON: what psql or another reader sees


@given(st.text(max_size=40) | st.binary(max_size=40))
@settings(max_examples=300, deadline=None)
def test_json_loads_of_any_text_is_a_value_or_a_json_error(text: str | bytes) -> None:
    with contextlib.suppress(ValueError):  # json's and orjson's decode errors both are
        json_loads(text)


def test_what_orjson_refuses_is_written_as_json_writes_it() -> None:
    assert json_loads(json_dumps({"big": 2**70, 3: "x"})) == {"big": 2**70, "3": "x"}
    assert json_dumps({"share": math.nan}) == '{"share":null}'
    assert math.isnan(json_loads('{"share": NaN}')["share"])  # written by older versions


def test_findings_evidence_round_trips_through_the_store(
    tmp_path: Path, state_db: Callable[[], str | None]
) -> None:
    evidence = {
        "rules": [{"rule": "invalid_caller_id", "weight": 0.8, "segment": {"calls": 2**40}}],
        "share": 0.00001,
        "name": "Tèst Telecom ☎",
        "counts": {"1": 2},
    }
    settings_ = load_settings(home=tmp_path / "home", database_url=state_db())
    with open_store(settings_) as store:
        with store.session() as session:
            session.add(DetectionRun(run_id="r1", started_at=datetime(2026, 12, 1, tzinfo=UTC),
                                     finished_at=datetime(2026, 12, 1, tzinfo=UTC), since=None,
                                     until=None, min_calls=30, threshold=0.5, customers=1,
                                     flagged=1, engine="duckdb"))  # fmt: skip
            session.flush()
            session.add(DetectionFinding(run_id="r1", seq=0, kind="customer", subject="c1",
                                         flagged=True, score=0.9, categories=["imposter"],
                                         evidence=evidence))  # fmt: skip
        with store.session() as session:
            row = session.execute(select(DetectionFinding)).scalar_one()
            assert row.evidence == evidence
            assert row.categories == ["imposter"]


def test_gc_paused_resumes_only_when_the_last_block_ends() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still runs
    assert gc.isenabled()


def test_gc_paused_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_paused_across_threads() -> None:
    inside = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with gc_paused():
            inside.set()
            release.wait(10)

    t = threading.Thread(target=worker)
    t.start()
    assert inside.wait(10)
    with gc_paused():
        pass
    assert not gc.isenabled()  # the worker's block is still open
    release.set()
    t.join(10)
    assert gc.isenabled()


def test_gc_paused_resumes_after_an_error() -> None:
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
