"""The Spark engine: :class:`tracehop.engine.Engine` on a PySpark session, over the same
Parquet lake DuckDB reads (docs/architecture.md, "The engine seam").

The jobs write their statements once, in DuckDB's dialect; :meth:`SparkEngine.sql` and the
other methods transpile each with SQLGlot (``read="duckdb", write="spark"``), refusing a
construct SQLGlot cannot carry over (``ErrorLevel.RAISE``) rather than running something
else. The statements that had no Spark form were rewritten in a form both engines run
(``detection/queries.py``), so one text serves both.

Session semantics are DuckDB's: UTC (the window literals and the ``day`` partitions rely
on it), ANSI mode off (a division by zero is NULL, as in DuckDB), a
materialized table is computed once and cached (DuckDB's ``TEMP TABLE``), a view resolves
its names when it is read (DuckDB's ``VIEW``).

One SparkSession per process (``local[N]`` starts a JVM: about 5 s); engines share it and
drop only the temporary views they made when closed. Nothing here is imported unless
``TRACEHOP_ENGINE=spark``: pyspark and Java are optional (``pip install 'tracehop[spark]'``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import logging
import shutil
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracehop.cdr.lake import Lake
from tracehop.engine import CALLS_SCHEMA, CUSTOMERS_SCHEMA, REJECTS_SCHEMA, Rows
from tracehop.errors import EngineError
from tracehop.settings import physical_memory, spark_driver_memory

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

INSTALL_SPARK = "pip install 'tracehop[spark]'"
INSTALL_JAVA = "apt install openjdk-17-jre-headless"

_lock = threading.Lock()


def check_spark() -> None:
    """An :class:`EngineError` saying what to install when pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise EngineError(
            f"TRACEHOP_ENGINE=spark needs pyspark: {INSTALL_SPARK} (and Java 17: {INSTALL_JAVA})"
        ) from None
    if shutil.which("java") is None:
        raise EngineError(
            f"TRACEHOP_ENGINE=spark needs Java 17 and no java is on the PATH: {INSTALL_JAVA}"
        )


def spark_session(master: str = "local[2]", memory: str = "auto") -> SparkSession:
    """This process's SparkSession on ``master`` (started on first use, then shared), its
    driver's heap ``memory`` (a JVM size or ``auto``: :func:`spark_driver_memory`) when this
    call starts the JVM."""
    check_spark()
    from pyspark.sql import SparkSession

    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None:
            if active.sparkContext.master != master:
                raise EngineError(
                    f"a Spark session on {active.sparkContext.master} is already running in "
                    f"this process: it cannot also run on {master}"
                )
            return active
        log4j = Path(__file__).parent / "data" / "spark-log4j2.properties"
        java_options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log4j}"
        builder = (
            SparkSession.builder.master(master)
            .appName("tracehop")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.extraJavaOptions", java_options)
            .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
            # DuckDB's semantics: x / 0 is NULL, a failed cast an error only in CAST
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")  # stage bars on stderr
            # tracehop keeps no Spark tables: no spark-warehouse folder in the working folder
            .config("spark.sql.warehouse.dir", _scratch())
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            # the JVM's -Xmx: on local[N] the driver runs every task, and Spark's 1g default
            # is too small for a large lake (docs/performance.md, "Engines")
            .config("spark.driver.memory", spark_driver_memory(memory, physical_memory()))
        )
        cores = _local_cores(master)
        if cores:
            # 200 shuffle partitions are sized for a cluster: on one machine each costs a task
            # (measured: a detection run of a small home 2x faster with one per core).
            builder = builder.config("spark.sql.shuffle.partitions", str(cores))
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # a JVM that does not start: PySparkRuntimeError and others
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EngineError(
                f"Spark did not start on {master} ({first}): it needs Java 17 "
                f"({INSTALL_JAVA}) and, for a cluster URL, a reachable master"
            ) from exc
        session.sparkContext.setLogLevel("ERROR")
        return session


def _scratch() -> str:
    """A folder of this process's own for Spark's warehouse (empty: only temporary views are
    made), removed when the process ends."""
    import atexit
    import tempfile

    folder = tempfile.mkdtemp(prefix="tracehop-spark-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


# TRACEHOP_SPARK_PARTITIONS=0 on local[N]: one shuffle partition per this many bytes of
# the lake's call files when that is more than one per core. Spark's adaptive execution
# (on by default) merges partitions smaller than 64 MB after each shuffle, so a small lake
# keeps few tasks; a large one gets sorts that fit the heap (docs/performance.md, "Engines").
PARTITION_BYTES = 128 * 2**20


def shuffle_partitions(master: str, lake_bytes: int, setting: int = 0) -> int | None:
    """Shuffle partitions of a job on ``master`` over ``lake_bytes`` of call files: the
    setting when not 0; on ``local[N]`` one per core or one per :data:`PARTITION_BYTES`,
    the more; None on a cluster (Spark's own setting stands)."""
    if setting:
        return setting
    cores = _local_cores(master)
    if cores is None:
        return None
    return max(cores, -(-lake_bytes // PARTITION_BYTES))


def _local_cores(master: str) -> int | None:
    """The cores of a ``local[N]`` / ``local[*]`` / ``local`` master; None for a cluster."""
    import os
    import re

    if master == "local":
        return 1
    m = re.fullmatch(r"local\[(\d+|\*)(?:,\s*\d+)?\]", master)
    if m is None:
        return None
    return os.cpu_count() or 1 if m.group(1) == "*" else int(m.group(1))


@functools.lru_cache(maxsize=512)
def to_spark(text: str) -> str:
    """A DuckDB statement as Spark SQL (SQLGlot), or an :class:`EngineError` naming the
    construct that has no Spark form."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, SqlglotError

    try:
        out = sqlglot.transpile(
            text, read="duckdb", write="spark", unsupported_level=ErrorLevel.RAISE
        )
    except SqlglotError as exc:
        raise EngineError(f"a statement has no Spark SQL form: {exc}") from exc
    if len(out) != 1:
        raise EngineError(f"one statement at a time, not {len(out)}")
    return out[0]


def _python(value: Any) -> Any:
    """Spark writes a decimal literal's arithmetic as DECIMAL where DuckDB gives DOUBLE: the
    jobs get floats from both."""
    return float(value) if isinstance(value, decimal.Decimal) else value


def _schema(ddl: str) -> str:
    """A DuckDB column list (``engine.CALLS_SCHEMA``) as a Spark DDL schema."""
    return (
        ddl.replace("TIMESTAMPTZ", "TIMESTAMP")
        .replace("VARCHAR", "STRING")
        .replace("INTEGER", "INT")
    )


def _columns(ddl: str) -> list[tuple[str, str]]:
    """``(name, Spark type)`` of a DuckDB column list."""
    return [tuple(c.split()) for c in _schema(ddl).replace("\n", " ").split(",")]  # type: ignore[misc]


class SparkEngine:
    """:class:`tracehop.engine.Engine` on a SparkSession (``spark`` stays reachable)."""

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self._views: set[str] = set()  # temporary views this engine made (dropped on close)
        self._tables: dict[str, DataFrame] = {}  # materialized: cached, unpersisted on drop

    def _df(self, text: str, params: Sequence[Any] = ()) -> DataFrame:
        args = [_param(p) for p in params] if params else None
        return self.spark.sql(to_spark(text), args=args)

    def sql(self, text: str, params: Sequence[Any] = ()) -> Rows:
        table = self.arrow(text, params)
        rows = [tuple(_python(v) for v in r.values()) for r in table.to_pylist()]
        if table.num_columns and len(set(table.column_names)) < table.num_columns:
            # duplicate names: to_pylist keeps one of each, read by position instead
            cols = [c.to_pylist() for c in table.columns]
            rows = [tuple(_python(c[i]) for c in cols) for i in range(table.num_rows)]
        return Rows(list(table.column_names), rows)

    def arrow(self, text: str, params: Sequence[Any] = ()) -> pa.Table:
        df = self._df(text, params)
        with _socket_left_to_gc():
            return df.toArrow()

    def materialize(self, name: str, select: str, params: Sequence[Any] = ()) -> None:
        df = self._df(select, params).cache()
        df.count()  # computed now, as DuckDB's CREATE TEMP TABLE ... AS is
        self.drop(name)
        self._keep(name, df)
        self._tables[name] = df

    def view(self, name: str, select: str) -> None:
        self.spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {to_spark(select)}")
        self._views.add(name)

    def drop(self, name: str) -> None:
        df = self._tables.pop(name, None)
        if df is not None:
            df.unpersist()
            self.spark.catalog.dropTempView(name)
            self._views.discard(name)

    def has_table(self, name: str) -> bool:
        return name in self._tables

    def register_arrow(self, name: str, table: pa.Table) -> None:
        with _socket_left_to_gc():
            self._keep(name, self.spark.createDataFrame(table))

    def unregister(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)
        self._views.discard(name)

    def _keep(self, name: str, df: DataFrame) -> None:
        df.createOrReplaceTempView(name)
        self._views.add(name)

    def register_calls(
        self,
        files: Sequence[str | PathLike[str]],
        *,
        name: str = "calls",
        one_schema: bool = False,  # unused: the files are grouped by schema below anyway
    ) -> None:
        paths = [str(f) for f in files]
        # the lake's folder: two levels above a file (calls/day=.../part.parquet); a column
        # the files lack (the index's twins hold some) is NULL
        base = str(Path(paths[0]).parent.parent)
        self._keep(name, self._read(paths, CALLS_SCHEMA, base=base))

    def _read(self, paths: list[str], ddl: str, base: str | None = None) -> DataFrame:
        """These Parquet files in the lake's column types (``ddl``). DuckDB's
        ``union_by_name`` reconciles files whose types differ (a column that was all NULL in
        one ingest is written with Parquet's null type); Spark's ``mergeSchema`` refuses
        them, so the files are read in groups of one schema (from their footers), each group
        cast to ``ddl``, and the groups unioned."""
        import pyarrow.parquet as pq
        from pyspark.sql import functions as F

        groups: dict[str, list[str]] = {}
        for path in paths:
            groups.setdefault(str(pq.read_schema(path)), []).append(path)
        out = None
        for group in groups.values():
            reader = self.spark.read.option("basePath", base) if base else self.spark.read
            df = reader.parquet(*group)
            have = set(df.columns)
            df = df.select(
                *[
                    (F.col(c) if c in have else F.lit(None)).cast(t).alias(c)
                    for c, t in _columns(ddl)
                ]
            )
            out = df if out is None else out.unionByName(df)
        assert out is not None  # at least one file
        return out

    def register_views(self, lake: Lake, customers: list[dict[str, object]] | None = None) -> None:
        calls = lake.call_files()
        if calls:
            self.register_calls(calls)
        else:
            self._keep("calls", self.spark.createDataFrame([], _schema(CALLS_SCHEMA)))
        rejects = lake.reject_files()
        if rejects:
            df = self._read([str(f) for f in rejects], REJECTS_SCHEMA)
        else:
            df = self.spark.createDataFrame([], _schema(REJECTS_SCHEMA))
        self._keep("rejects", df)
        rows = [
            tuple(
                c.get(k) for k in ("id", "name", "kind", "country", "onboarded", "rmd_id", "notes")
            )
            for c in customers or []
        ]
        self._keep("customers", self.spark.createDataFrame(rows, _schema(CUSTOMERS_SCHEMA)))

    def close(self) -> None:
        """Drop this engine's views and cached tables; the session stays for the next."""
        for name in list(self._tables):
            self.drop(name)
        for name in list(self._views):
            self.spark.catalog.dropTempView(name)
        self._views.clear()


@contextmanager
def _socket_left_to_gc() -> Iterator[None]:
    """pyspark reads a result from a local socket it leaves to the garbage collector
    (``pyspark.util._load_from_socket``: "closed when garbage-collected"), which Python
    reports as a ResourceWarning when the call returns: that one warning is not ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket.socket", ResourceWarning)
        yield


def _param(value: Any) -> Any:
    """A ``?`` parameter as Spark takes it: a naive datetime is UTC, as in DuckDB's UTC
    session (pyspark would read it in this process's local zone)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value
