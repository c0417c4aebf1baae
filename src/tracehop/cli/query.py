"""``tracehop query``: read-only SQL over calls, rejects and customers."""

from __future__ import annotations

from typing import Annotated

import typer

from tracehop.cli.output import emit_rows
from tracehop.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command()
    def query(
        ctx: typer.Context,
        sql: Annotated[str, typer.Argument(help="One SELECT over calls, rejects, customers.")],
        as_json: Annotated[bool, typer.Option("--json", help="Rows as a JSON array.")] = False,
        as_csv: Annotated[bool, typer.Option("--csv", help="Rows as CSV with a header.")] = False,
        limit: Annotated[
            int, typer.Option(help="Rows shown (and fetched) in the table view.", min=1)
        ] = 50,
    ) -> None:
        """Run read-only SQL (DuckDB dialect) over the lake's views."""
        from tracehop.analyst import query as run_query

        if as_json and as_csv:
            raise InputError("choose one of --json and --csv")
        # the table view fetches only the rows it shows; --json and --csv give them all
        table = not (as_json or as_csv)
        ctx.obj.require_home()
        result = run_query(sql, ctx.obj, max_rows=limit if table else None)
        emit_rows(
            result.columns, result.rows, as_json=as_json, as_csv=as_csv, more=result.truncated
        )
