"""``tracehop customers``: the customer directory (what each ``upstream`` value is)."""

from __future__ import annotations

from dataclasses import astuple, fields
from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, emit_rows, stdout_console
from tracehop.customers import CustomerRecord, import_customers, list_customers, parse_customers_csv
from tracehop.store import open_store

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
    records = parse_customers_csv(path)
    store = open_store(ctx.obj)
    try:
        result = import_customers(store, records)
    finally:
        store.close()
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
    store = open_store(ctx.obj)
    try:
        rows = list_customers(store)
    finally:
        store.close()
    columns = [f.name for f in fields(CustomerRecord)]
    emit_rows(
        columns, [astuple(r) for r in rows], as_json=as_json, as_csv=as_csv, title="Customers"
    )
