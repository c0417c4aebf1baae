"""One way to print results: a Rich table for people, ``--json`` / ``--csv`` for scripts.

Values that come from data (CDR fields, customer names, a node's answer, file names) are
written by other people's systems, some hostile (docs/security.md): printed to a terminal they
go through ``esc`` (control characters shown as ``\\x1b``-style escapes, Rich markup
escaped) or, in tables, ``cell`` (a Text, never parsed as markup). Our own messages may use
markup; a value never does. Consoles highlight nothing and render no emoji codes.

Rich and the library's JSON conversion are imported when something is printed, not when the
CLI starts (``tracehop --help`` must not pay for them; docs/performance.md).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# C0 controls but tab (a newline in a value would forge a line of output), DEL, C1 controls
# (ESC starts terminal escape sequences).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean(value: object) -> str:
    """``value`` as text a terminal shows literally: control characters as escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def esc(value: object) -> str:
    """A data value to put inside a Rich markup string: cleaned, and its ``[`` escaped."""
    from rich.markup import escape

    return escape(clean(value))


def cell(value: object) -> Text:
    """A data value as a table cell (a Text: never parsed as markup)."""
    from rich.text import Text

    return Text(clean(value))


def stdout_console() -> Console:
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False, emoji=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


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
    more: bool = False,
) -> None:
    """Print rows as a table, JSON records or CSV (``more``: rows were left out before)."""
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

    shown = rows if limit is None else rows[:limit]
    texts = [["" if v is None else str(plain(v)) for v in row] for row in shown]
    console = stdout_console()
    # each column as wide as its header and its values (up to 24): too wide for the terminal,
    # the rows are printed one field a line, so that ids stay whole (they are pasted into the
    # next command) and no value is folded a few letters a line
    wanted = sum(
        3 + max([len(col), *(min(len(t[i]), 24) for t in texts)]) for i, col in enumerate(columns)
    )
    if texts and wanted > console.width:
        if title:
            console.print(esc(title), style="bold", highlight=False)
        for t in texts:
            console.print(f"[bold]{cell(t[0])}[/]", highlight=False)
            for col, value in zip(columns[1:], t[1:], strict=True):
                console.print(f"  {cell(col)}: {cell(value)}", highlight=False)
    else:
        table = Table(title=esc(title) if title else None, show_lines=False)
        for col in columns:
            table.add_column(cell(col), overflow="fold")
        for t in texts:
            table.add_row(*[cell(v) for v in t])
        console.print(table)
    if more:
        console.print("(more rows; use --json or --csv for all)")
    elif limit is not None and len(rows) > limit:
        console.print(f"({len(rows) - limit} more rows; use --json or --csv for all)")
