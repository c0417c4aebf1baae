"""One way to print results: a Rich table for people, ``--json`` / ``--csv`` for scripts.

Rich and the library's JSON conversion are imported when something is printed, not when the
CLI starts (``tracehop --help`` must not pay for them; docs/performance.md).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def stdout_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def emit_json(data: Any) -> None:
    from tracehop.analyst import jsonable

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
    from tracehop.analyst import jsonable

    def plain(value: Any) -> Any:
        v = jsonable(value)
        return json.dumps(v) if isinstance(v, list | dict) else v

    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else plain(v) for v in row])
        return
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    shown = rows if limit is None else rows[:limit]
    for row in shown:
        table.add_row(*["" if v is None else str(plain(v)) for v in row])
    console = stdout_console()
    console.print(table)
    if limit is not None and len(rows) > limit:
        console.print(f"({len(rows) - limit} more rows; use --json or --csv for all)")
