"""``tracehop customers``: the customer directory (what each ``upstream`` value is)."""

from __future__ import annotations

from dataclasses import astuple, fields
from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, emit_rows, stdout_console

app = typer.Typer(help="Import and list customers (id = the upstream value in CDRs).")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="CSV: id, name, kind, country, onboarded[, rmd_id, notes]")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON.")] = False,
) -> None:
    """Import or update customers from a CSV file (all rows or none)."""
    from tracehop.customers import import_customers, parse_customers_csv
    from tracehop.store import open_store

    records = parse_customers_csv(path)
    with open_store(ctx.obj) as store:
        result = import_customers(store, records)
    if as_json:
        emit_json(result.to_dict())
    else:
        stdout_console().print(
            f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        )


@app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print as CSV.")] = False,
) -> None:
    """List customers."""
    from tracehop.customers import CustomerRecord, list_customers
    from tracehop.store import open_store

    ctx.obj.require_home()
    with open_store(ctx.obj) as store:
        rows = list_customers(store)
    columns = [f.name for f in fields(CustomerRecord)]
    emit_rows(
        columns, [astuple(r) for r in rows], as_json=as_json, as_csv=as_csv, title="Customers"
    )
