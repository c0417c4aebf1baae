"""SQL text written once: literals for the few places where a value cannot be a bound
parameter (DuckDB ``SET`` statements, file lists in ``read_parquet``/``read_csv``, macro and
view definitions). Everywhere else, bind parameters (``?``)."""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike


def lit(value: str | PathLike[str]) -> str:
    """A single-quoted SQL string literal (quotes doubled; works in DuckDB, Spark SQL and
    PostgreSQL with standard_conforming_strings)."""
    return "'" + str(value).replace("'", "''") + "'"


def lit_list(values: Iterable[str | PathLike[str]]) -> str:
    """A list literal of strings: ``['a', 'b']`` (DuckDB's list syntax, used for file lists)."""
    return "[" + ", ".join(lit(v) for v in values) + "]"
