"""``tracehop dno``: Do-Not-Originate lists (docs/screening.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, emit_rows, esc, stdout_console

app = typer.Typer(help="Do-Not-Originate lists: numbers never valid as a caller ID.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="Numbers one a line (or a CSV's first column): E.164 or 10 digits."
        ),
    ],
    name: Annotated[
        str, typer.Option(help="The list's name; importing a name again replaces that list.")
    ] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Import a DNO list, all or nothing (millions of numbers). Calls are blocked by it once
    a rule says so: tracehop block add --class dno --reason ..."""
    from tracehop.cli.block import _author
    from tracehop.screening.dno import import_dno
    from tracehop.store import open_store

    settings = ctx.obj
    with open_store(settings) as store:
        stored, read = import_dno(
            store, path, name=name, author=_author(None), crash_at=settings.crash_at
        )
    result = {
        **stored.as_dict(),
        "lines": read.lines,
        "rejected": read.rejected,
        "rejects": [{"line": n, "value": v, "reason": why} for n, v, why in read.rejects],
    }
    if as_json:
        emit_json(result)
        return
    console = stdout_console()
    console.print(
        f"DNO list {esc(stored.name)}: {stored.numbers:,} numbers from {read.lines:,} lines, "
        f"{read.rejected:,} lines rejected"
    )
    for n, v, why in read.rejects:
        console.print(f"  line {n}: {esc(v)}: {why}")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the DNO lists."""
    from tracehop.screening.dno import list_dno
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        lists = [d.as_dict() for d in list_dno(store)]
    if as_json:
        emit_json(lists)
        return
    cols = ("name", "numbers", "source", "author", "imported_at", "sha256")
    emit_rows(cols, [tuple(d[c] for c in cols) for d in lists], title="DNO lists")


@app.command()
def remove(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The list's name.")],
    as_json: JsonOpt = False,
) -> None:
    """Remove a DNO list."""
    from tracehop.screening.dno import remove_dno
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        gone = remove_dno(store, name)
    if as_json:
        emit_json(gone.as_dict())
    else:
        stdout_console().print(f"removed DNO list {esc(gone.name)} ({gone.numbers:,} numbers)")
