"""The Spark engine (``tracehop.spark_engine``): the engine seam method by method on a real
SparkSession (local mode, Java 17), and the same detection on DuckDB and on Spark over the
same simulated lake, as ``test_numbers.py`` compares SQL with Python.

One SparkSession per test process (a JVM starts in 5-15 s): under ``pytest -n auto`` each
worker that runs a test of this module starts one (two on a 2-core machine). (Grouping them
on one worker with ``xdist_group`` / ``--dist loadgroup`` was tried: pytest 9.2 with
pytest-xdist 3.8 still spread the group over both workers.)"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from conftest import simulated_homes
from tracehop.analyst import open_analytics
from tracehop.detection.campaigns import RANGE_MIN_SEQUENTIAL, TOP_CALLERS
from tracehop.detection.findings import Detection, Window
from tracehop.detection.queries import campaign_links
from tracehop.detection.run import detect_on
from tracehop.engine import DuckDBEngine, Engine
from tracehop.errors import EngineError
from tracehop.settings import Settings, load_settings
from tracehop.spark_engine import SparkEngine, spark_session, to_spark

pytestmark = pytest.mark.spark

# Scores are sums of rule weights over indicators computed by both engines in double
# precision; they agree to rounding. No approximate count is used by detection.
SCORE_TOLERANCE = 1e-9


@pytest.fixture(scope="session")
def spark() -> Any:
    return spark_session("local[2]")


@pytest.fixture
def engine(spark: Any) -> Iterator[SparkEngine]:
    e = SparkEngine(spark)
    yield e
    e.close()


def test_sql_returns_columns_and_rows_with_parameters(engine: SparkEngine) -> None:
    at = datetime(2025, 3, 3, 10, tzinfo=UTC)
    rows = engine.sql(
        "SELECT CAST(? AS INTEGER) AS a, 'x' || ? AS b, ? AS t, 1 / 0 AS z, 10 / 4.0 AS d",
        [41, "y", at],
    )
    assert rows.columns == ["a", "b", "t", "z", "d"]
    # UTC, DuckDB's NULL for a division by zero, a float where Spark computes a DECIMAL
    assert rows.rows == [(41, "xy", at, None, 2.5)] and isinstance(rows.rows[0][4], float)
    assert engine.name == "spark"


def test_duckdb_sql_is_transpiled() -> None:
    assert to_spark("SELECT a // 10, starts_with(b, '+1'), c::DOUBLE ** 2 FROM t") == (
        "SELECT a DIV 10, STARTSWITH(b, '+1'), POWER(CAST(c AS DOUBLE), 2) FROM t"
    )
    assert to_spark("SELECT TIMESTAMPTZ '2025-03-03T10:00:00+00:00'") == (
        "SELECT CAST('2025-03-03T10:00:00+00:00' AS TIMESTAMP)"
    )
    with pytest.raises(EngineError, match="no Spark SQL form"):
        to_spark("SELECT FROM WHERE")


def test_materialize_view_drop_and_has_table(engine: SparkEngine) -> None:
    engine.register_arrow("th_a", pa.table({"x": [1, 2, 3, 4]}))
    assert not engine.has_table("th_t")
    engine.materialize("th_t", "SELECT x AS i FROM th_a WHERE x <= ?", [3])
    assert engine.has_table("th_t")
    engine.materialize("th_t", "SELECT 1 AS i")  # replaced
    assert engine.sql("SELECT count(*) FROM th_t").scalar() == 1
    engine.view("th_v", "SELECT i * 10 AS j FROM th_t")
    assert engine.sql("SELECT j FROM th_v").rows == [(10,)]
    engine.drop("th_t")
    engine.drop("th_t")  # dropping what is gone is no error
    assert not engine.has_table("th_t")
    assert engine.arrow("SELECT x FROM th_a ORDER BY x").column("x").to_pylist() == [1, 2, 3, 4]


def test_arrow_tables_are_registered_until_unregistered(engine: SparkEngine) -> None:
    engine.register_arrow("th_a", pa.table({"x": [1, 2, 3]}))
    assert engine.sql("SELECT sum(x) FROM th_a").scalar() == 6
    engine.register_arrow("th_e", pa.table({"c": pa.array([], pa.string())}))
    assert engine.sql("SELECT count(*) FROM th_e").scalar() == 0
    engine.unregister("th_a")
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        engine.sql("SELECT * FROM th_a")


def test_close_drops_only_its_own_views(spark: Any) -> None:
    first, second = SparkEngine(spark), SparkEngine(spark)
    first.materialize("th_first", "SELECT 1 AS i")
    second.view("th_second", "SELECT 2 AS i")
    first.close()
    assert not spark.catalog.tableExists("th_first")
    assert second.sql("SELECT i FROM th_second").scalar() == 2
    second.close()
    assert not spark.catalog.tableExists("th_second")


def test_register_calls_reads_only_the_files_given(engine: SparkEngine, tmp_path: Path) -> None:
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
    assert engine.sql("SELECT call_id FROM calls").rows == [("c",)]


def test_files_whose_types_differ_are_read_in_the_lake_types(
    engine: SparkEngine, tmp_path: Path
) -> None:
    # an ingest whose layout had no extra fields writes `extra` with Parquet's null type
    folder = tmp_path / "day=2025-03-03"
    folder.mkdir()
    pq.write_table(pa.table({"call_id": ["a"], "extra": ['{"x": 1}']}), folder / "p-0.parquet")
    pq.write_table(
        pa.table({"call_id": ["b"], "extra": pa.array([None], pa.null())}), folder / "p-1.parquet"
    )
    engine.register_calls(sorted(folder.glob("*.parquet")))
    rows = engine.sql("SELECT call_id, extra, sip_code FROM calls ORDER BY call_id").rows
    assert rows == [("a", '{"x": 1}', None), ("b", None, None)]


def test_an_empty_home_has_empty_views(spark: Any, tmp_path: Path) -> None:
    engine = open_analytics(load_settings(home=tmp_path / "home", engine="spark"))
    try:
        assert isinstance(engine, SparkEngine)
        for view in ("calls", "rejects", "customers"):
            assert engine.sql(f"SELECT count(*) FROM {view}").scalar() == 0
        assert "start" in engine.sql("SELECT * FROM calls").columns
    finally:
        engine.close()


# --- errors: never a silent fall back to DuckDB -----------------------------------------------


def test_an_unknown_engine_is_a_one_line_error(tmp_path: Path, monkeypatch: Any) -> None:
    from tracehop.cli import _register, app

    _register()
    monkeypatch.setenv("TRACEHOP_ENGINE", "sparky")
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "h"), "detect", "--json"])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == "Error: setting engine: unknown engine 'sparky': use duckdb or spark\n"


def _tracehop(args: list[str], env: dict[str, str], prelude: str = "") -> Any:
    code = f"{prelude}import sys; from tracehop.cli import main; sys.argv[0] = 'tracehop'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_spark_without_java_or_pyspark_says_what_to_install(tmp_path: Path) -> None:
    env = {"TRACEHOP_HOME": str(tmp_path / "h"), "TRACEHOP_ENGINE": "spark", "PATH": "/nonexistent"}
    (tmp_path / "h").mkdir()  # an existing home: detection starts and opens its engine
    no_java = _tracehop(["detect", "--json"], env)
    assert no_java.returncode == 1 and no_java.stdout == ""
    assert no_java.stderr == (
        "Error: TRACEHOP_ENGINE=spark needs Java 17 and no java is on the PATH: "
        "apt install openjdk-17-jre-headless\n"
    )
    # pyspark not installed: the import fails as it does without the package
    no_pyspark = _tracehop(["detect", "--json"], env, "import sys; sys.modules['pyspark'] = None; ")
    assert no_pyspark.returncode == 1
    assert no_pyspark.stderr == (
        "Error: TRACEHOP_ENGINE=spark needs pyspark: pip install 'tracehop[spark]' "
        "(and Java 17: apt install openjdk-17-jre-headless)\n"
    )


# --- the same findings on both engines --------------------------------------------------------

# Two providers of a small simulated world (seed 57): transitnet flags five customers (two
# could link into campaigns), manila-link a customer and seven caller IDs (premium-rate
# international numbers).
HOMES = ("transitnet", "manila-link")


@pytest.fixture(scope="module")
def world_homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Settings]:
    return simulated_homes(tmp_path_factory.mktemp("spark-world"), HOMES, days=1, scale=0.05)


def _detect(settings: Settings, links: bool = False) -> tuple[Detection, list[Any]]:
    from tracehop.store import open_store

    with open_store(settings) as store:
        engine: Engine = open_analytics(settings, store)
        try:
            result = detect_on(engine, Window())
            flagged = sorted(
                f.subject for f in result.findings if f.flagged and f.kind == "customer"
            )
            # every key pair of the flagged customers, not only those over the campaign bar
            pairs = campaign_links(
                engine,
                flagged,
                Window(),
                top_callers=TOP_CALLERS,
                min_sequential=RANGE_MIN_SEQUENTIAL,
                min_shared=1,
            )
        finally:
            engine.close()
    return result, pairs


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, where
        assert math.isclose(a, b, rel_tol=SCORE_TOLERANCE, abs_tol=SCORE_TOLERANCE), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.slow
def test_duckdb_and_spark_give_the_same_findings(
    spark: Any, world_homes: dict[str, Settings]
) -> None:
    flagged_seen = caller_ids_seen = 0
    for pid, settings in world_homes.items():
        duck, duck_pairs = _detect(settings.replace(engine="duckdb"))
        spk, spark_pairs = _detect(settings.replace(engine="spark"))
        assert (duck.engine, spk.engine) == ("duckdb", "spark")
        assert duck.window == spk.window
        by_key = {(f.kind, f.subject): f for f in spk.findings}
        assert [(f.kind, f.subject) for f in duck.findings] == list(by_key), pid
        for d in duck.findings:
            s = by_key[d.kind, d.subject]
            where = f"{pid}:{d.kind}:{d.subject}"
            assert (d.flagged, d.categories) == (s.flagged, s.categories), where
            assert abs(d.score - s.score) <= SCORE_TOLERANCE, where
            assert (d.first_seen, d.last_seen) == (s.first_seen, s.last_seen), where
            # the whole evidence: every indicator, segment, rule and example call
            _same(d.evidence, s.evidence, where)
        flagged_seen += sum(f.flagged and f.kind == "customer" for f in duck.findings)
        caller_ids_seen += sum(f.kind == "caller_id" for f in duck.findings)
        assert duck_pairs == spark_pairs, pid
    # the world exercised what it was chosen for
    assert flagged_seen >= 6 and caller_ids_seen >= 5


@pytest.mark.slow
def test_cli_detect_on_spark_says_so(
    spark: Any, world_homes: dict[str, Settings], monkeypatch: Any
) -> None:
    from tracehop.cli import _register, app

    _register()
    home = str(world_homes["transitnet"].home)
    out = {}
    for name in ("duckdb", "spark"):
        monkeypatch.setenv("TRACEHOP_ENGINE", name)
        result = CliRunner().invoke(app, ["--home", home, "detect", "--json"])
        assert result.exit_code == 0, result.stderr
        out[name] = json.loads(result.stdout)
        assert out[name]["engine"] == name
    flagged = {
        n: {(f["kind"], f["subject"]) for f in out[n]["findings"] if f["flagged"]} for n in out
    }
    assert flagged["spark"] == flagged["duckdb"] and len(flagged["duckdb"]) >= 5
    # the stored runs say where they ran too (detection_runs.engine, migration 0013)
    from tracehop.store import open_store
    from tracehop.store.models import DetectionRun

    with open_store(world_homes["transitnet"]) as store, store.session() as s:
        stored = {out[n]["run_id"]: s.get(DetectionRun, out[n]["run_id"]).engine for n in out}
    assert stored == {out["duckdb"]["run_id"]: "duckdb", out["spark"]["run_id"]: "spark"}


def test_duckdb_engine_is_the_default(tmp_path: Path) -> None:
    engine = open_analytics(load_settings(home=tmp_path / "home"))
    try:
        assert isinstance(engine, DuckDBEngine) and engine.name == "duckdb"
    finally:
        engine.close()


def test_the_jvm_heap_and_partitions_are_tracehops_settings(
    spark: Any, world_homes: dict[str, Settings]
) -> None:
    from tracehop.settings import physical_memory, spark_driver_memory

    # the JVM started with TRACEHOP_SPARK_MEMORY=auto's heap, not Spark's 1g default
    heap = spark_driver_memory("auto", physical_memory())
    assert spark.sparkContext.getConf().get("spark.driver.memory") == heap
    max_heap = spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory()
    # (the JVM reports -Xmx rounded to its heap regions: within a percent)
    assert 0.8 * int(heap[:-1]) * 2**20 <= max_heap <= 1.01 * int(heap[:-1]) * 2**20
    settings = world_homes["transitnet"].replace(engine="spark")
    engines = [open_analytics(settings), open_analytics(settings.replace(spark_partitions=7))]
    try:
        # a small lake: one partition per core; the setting when given
        got = [e.spark.conf.get("spark.sql.shuffle.partitions") for e in engines]
        assert got == ["2", "7"]
    finally:
        for e in engines:
            e.close()
