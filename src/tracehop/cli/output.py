"""One way to print results: a Rich table for people, ``--json`` / ``--csv`` for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from tracehop.analyst import jsonable


def stdout_console() -> Console:
    return Console(soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(data), ensure_ascii=False) + "\n")


def emit_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    as_json: bool = False,
    as_csv: bool = False,
    title: str | None = None,
    limit: int | None = None,
) -> None:
    """Print rows as a table, JSON records or CSV."""
    if as_json:
        emit_json([dict(zip(columns, row, strict=True)) for row in rows])
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else _plain(v) for v in row])
        return
    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    shown = rows if limit is None else rows[:limit]
    for row in shown:
        table.add_row(*["" if v is None else str(_plain(v)) for v in row])
    console = stdout_console()
    console.print(table)
    if limit is not None and len(rows) > limit:
        console.print(f"({len(rows) - limit} more rows; use --json or --csv for all)")


def _plain(value: Any) -> Any:
    v = jsonable(value)
    if isinstance(v, list | dict):
        return json.dumps(v)
    return v
