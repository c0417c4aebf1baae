"""``tracehop complaints``: complaints about calls this provider carried, traced to customers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, esc, stdout_console

app = typer.Typer(help="Import complaints; detection counts them per customer.")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="CSV: complaint_id, caller_id, called, date, time_utc[, description] "
            "(or caller, called, at)"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Trace each complaint to the customer that sent the call (the lake lookup of
    `tracehop trace lookup`) and store it. A bad row is reported with its line and does not
    stop the others; importing the same file again changes nothing."""
    from tracehop.complaints import import_complaints
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        result = import_complaints(ctx.obj, store, path)
    if as_json:
        emit_json(result.to_json())
        return
    out = stdout_console()
    out.print(
        f"{result.stored} complaints stored, {result.matched} traced to a customer, "
        f"{result.stored - result.matched} not found in the lake"
    )
    for customer, n in result.by_customer.most_common(10):
        out.print(f"  {esc(customer)}: {n}")
    for e in result.errors:
        out.print(f"line {e.line}: {esc(e.reason)}")
