"""``tracehop lake``: look after the CDR lake's layout."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import emit_json, stderr_console, stdout_console

if TYPE_CHECKING:
    from tracehop.settings import Settings

app = typer.Typer(help="Look after the CDR lake: its index by called number.")


@app.command()
def reindex(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Write the index by called number for the calls files that have none (a lake ingested
    before tracehop wrote it). Until then traceback lookups read those days from the calls:
    the same answers, slower (docs/traceback.md)."""
    from tracehop.cdr.reindex import reindex as run

    settings: Settings = ctx.obj
    if sys.stderr.isatty() and not as_json:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]reindex"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} files"),
            TimeElapsedColumn(),
            console=stderr_console(),
            transient=True,
        ) as bar:
            task = bar.add_task("reindex", total=None)
            result = run(
                settings,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    else:
        result = run(settings)
    if as_json:
        emit_json(result.to_dict())
        return
    stdout_console().print(
        f"{result.written:,} index files written; {result.days:,} of {result.days_total:,} "
        "days indexed by called number"
    )
