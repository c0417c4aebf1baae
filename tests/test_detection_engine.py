"""The engine seam detection runs on: ``tracehop.engine.DuckDBEngine`` method by method, and a
detection run that sends every statement through the engine it is given."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tracehop.detection.findings import Window
from tracehop.detection.queries import restrict_calls, window_where
from tracehop.detection.run import detect_on
from tracehop.engine import CALLS_SCHEMA, CUSTOMERS_SCHEMA, DuckDBEngine, Rows, as_engine


@pytest.fixture
def engine() -> DuckDBEngine:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    e = DuckDBEngine(con)
    yield e
    e.close()


def test_sql_returns_columns_and_rows_with_parameters(engine: DuckDBEngine) -> None:
    rows = engine.sql("SELECT ?::INTEGER AS a, 'x' || ? AS b", [41, "y"])
    assert rows.columns == ["a", "b"]
    assert rows.rows == [(41, "xy")] and list(rows) == [(41, "xy")] and len(rows) == 1
    assert engine.sql("SELECT 7 AS n").scalar() == 7
    assert engine.name == "duckdb"


def test_arrow(engine: DuckDBEngine) -> None:
    table = engine.arrow("SELECT range AS i FROM range(?)", [3])
    assert table.column_names == ["i"] and table.column("i").to_pylist() == [0, 1, 2]


def test_materialize_view_drop_and_has_table(engine: DuckDBEngine) -> None:
    assert not engine.has_table("th_t")
    engine.materialize("th_t", "SELECT range AS i FROM range(?)", [4])
    assert engine.has_table("th_t")
    engine.materialize("th_t", "SELECT 1 AS i")  # replaced
    assert engine.sql("SELECT count(*) FROM th_t").scalar() == 1
    engine.view("th_v", "SELECT i * 10 AS j FROM th_t")
    assert engine.sql("SELECT j FROM th_v").rows == [(10,)]
    engine.drop("th_t")
    engine.drop("th_t")  # dropping what is gone is no error
    assert not engine.has_table("th_t")


def test_arrow_tables_are_registered_until_unregistered(engine: DuckDBEngine) -> None:
    engine.register_arrow("th_a", pa.table({"x": [1, 2, 3]}))
    assert engine.sql("SELECT sum(x) FROM th_a").scalar() == 6
    engine.unregister("th_a")
    with pytest.raises(duckdb.CatalogException):
        engine.sql("SELECT * FROM th_a")


def test_register_calls_reads_only_the_files_given(engine: DuckDBEngine, tmp_path: Path) -> None:
    files = []
    for day, ids in (("2025-03-03", ["a", "b"]), ("2025-03-04", ["c"])):
        folder = tmp_path / f"day={day}"
        folder.mkdir()
        files.append(folder / "part-0.parquet")
        pq.write_table(pa.table({"call_id": ids}), files[-1])
    engine.register_calls(files)
    got = engine.sql("SELECT call_id, day FROM calls ORDER BY call_id").rows
    assert [(c, d.isoformat()) for c, d in got] == [
        ("a", "2025-03-03"),
        ("b", "2025-03-03"),
        ("c", "2025-03-04"),
    ]
    engine.register_calls(files[1:])
    assert engine.sql("SELECT list(call_id) FROM calls").scalar() == ["c"]


def test_as_engine_wraps_a_connection_once(engine: DuckDBEngine) -> None:
    assert as_engine(engine) is engine
    wrapped = as_engine(engine.con)
    assert isinstance(wrapped, DuckDBEngine) and wrapped.con is engine.con


def test_window_condition_prunes_days_in_utc() -> None:
    since = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)
    until = datetime(2025, 3, 4, 1, 0)  # naive: UTC
    assert window_where(Window(since, until)) == (
        "start >= TIMESTAMPTZ '2025-03-03T23:30:00+00:00' AND day >= DATE '2025-03-03' "
        "AND start < TIMESTAMPTZ '2025-03-04T01:00:00+00:00' AND day <= DATE '2025-03-04'"
    )
    assert window_where(Window()) == "TRUE"


class Recording(DuckDBEngine):
    """A DuckDB engine that keeps every statement it is asked to run."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(con)
        self.statements: list[tuple[str, str]] = []

    def sql(self, text: str, params: Sequence[Any] = ()) -> Rows:
        self.statements.append(("sql", text))
        return super().sql(text, params)

    def materialize(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        self.statements.append((name, select))
        super().materialize(name, select, params)

    def view(self, name: str, select: str) -> None:
        self.statements.append((name, select))
        super().view(name, select)


def test_a_run_sends_every_statement_through_its_engine() -> None:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE lake ({CALLS_SCHEMA})")
    con.execute("CREATE VIEW calls AS SELECT * FROM lake")  # a view, as register_views makes
    con.execute(f"CREATE TABLE customers ({CUSTOMERS_SCHEMA})")
    t0 = datetime(2025, 3, 3, 10, tzinfo=UTC)
    con.executemany(
        "INSERT INTO lake (call_id, start, caller, called, upstream, duration, disposition, "
        "day) VALUES (?, ?, ?, ?, ?, 0, 'no_answer', ?)",
        [
            (f"c{i}", t0, f"+1212555{i % 10:04d}", f"+1312555{i:04d}", up, t0.date())
            for up in ("alpha", "beta")
            for i in range(40)
        ],
    )
    engine = Recording(con)
    result = detect_on(engine, Window(t0, datetime(2025, 3, 4, tzinfo=UTC)))
    assert {f.subject for f in result.findings if f.kind == "customer"} == {"alpha", "beta"}
    made = [name for name, _ in engine.statements if name != "sql"]
    # the calls grouped three ways, then th_uc: those rows labelled with class and segments
    assert made[:3] == ["th_ucall", "th_ud", "th_um"]
    assert {"th_cls", "th_uc", "th_seq", "th_candidates"} <= set(made)
    assert made.index("th_uc") > made.index("th_cls")
    reads = [text for _, text in engine.statements if "FROM calls" in text]
    # th_ucall, th_ud, th_um, and the TDoS hour counts of the numbers called 60 times or more
    assert len(reads) == 4 and all("day >= DATE '2025-03-03'" in t for t in reads)
    restrict_calls(engine, "alpha", t0)
    assert engine.statements[-1] == ("calls", "SELECT * FROM th_delay_calls")
    assert engine.sql("SELECT DISTINCT upstream FROM calls").rows == [("alpha",)]
    con.close()


def _seq_rows(engine: DuckDBEngine) -> list[tuple[Any, ...]]:
    return sorted(engine.sql("SELECT upstream, block, numbers, sequential, calls FROM th_seq").rows)


@pytest.mark.parametrize(
    ("odd", "bitmap"),
    [
        ([], True),
        # a number written two ways (TRY_CAST reads both) and a negative one: the bitmap
        # would count a set, the join counts rows: the join runs
        (["+1 212555120", "+1-212555120"], False),
    ],
)
def test_sequential_blocks_bitmap_gives_the_join_s_counts(
    engine: DuckDBEngine, odd: list[str], bitmap: bool
) -> None:
    from tracehop.detection.queries import _SEQ_JOIN, _sequential_blocks

    called = [
        "+12125551200", "+12125551201", "+12125551202",  # a run of three in one block
        "+12125559999", "+12125560000",  # a run across two blocks
        "+12125550000", "+12125557777",  # block edges, alone
        "+13105550001", "+442079460000", "+1212555",  # other blocks, not NANP, too short
    ]  # fmt: skip
    rows = [("a", c, i + 1) for i, c in enumerate(called)] + [("b", c, 2) for c in called[:4]]
    rows += [("a", c, 1) for c in odd]
    engine.register_arrow(
        "th_ud_in",
        pa.table(
            {
                "upstream": [r[0] for r in rows],
                "called": [r[1] for r in rows],
                "n": pa.array([r[2] for r in rows], type=pa.int32()),
            }
        ),
    )
    engine.materialize("th_ud", "SELECT * FROM th_ud_in")
    engine.materialize("th_seq", _SEQ_JOIN)
    expected = _seq_rows(engine)
    _sequential_blocks(engine)
    assert _seq_rows(engine) == expected
    columns = engine.sql("SELECT * FROM th_seq LIMIT 0").columns
    assert ("exact" in columns) is bitmap
    by_block = {(r[0], r[1]): r[3] for r in expected}
    assert by_block[("a", 212555)] == 2 and by_block[("a", 212556)] == 1
