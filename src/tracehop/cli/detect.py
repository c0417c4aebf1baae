"""``tracehop detect``: find the customers and caller IDs that carry illegal robocalls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tracehop.cli.output import emit_json, stdout_console
from tracehop.errors import InputError


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or time; without a zone it is UTC."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {value!r} is not a date or time: use ISO 8601, e.g. 2025-03-03 or "
            "2025-03-03T14:00"
        ) from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def register(app: typer.Typer) -> None:
    @app.command()
    def detect(
        ctx: typer.Context,
        since: Annotated[
            str | None, typer.Option(help="Window start (ISO 8601, UTC unless a zone is given).")
        ] = None,
        until: Annotated[str | None, typer.Option(help="Window end, exclusive (ISO 8601).")] = None,
        min_calls: Annotated[
            int, typer.Option(help="Customers with fewer attempts are listed but not scored.")
        ] = 30,
        as_json: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
        limit: Annotated[int, typer.Option(help="Rows shown in the table view.")] = 50,
    ) -> None:
        """Score every customer (and flagged caller IDs and campaigns) in a time window from
        the CDR lake; store the run and its findings (docs/detection.md)."""
        from tracehop.detection.run import run_detection
        from tracehop.store import open_store

        lo, hi = parse_time(since, "--since"), parse_time(until, "--until")
        if lo and hi and lo >= hi:
            raise InputError("--since must be before --until")
        if min_calls < 1:
            raise InputError("--min-calls must be 1 or more")
        store = open_store(ctx.obj)
        try:
            result = run_detection(ctx.obj, store, since=lo, until=hi, min_calls=min_calls)
        finally:
            store.close()
        if as_json:
            emit_json(result.as_dict())
            return
        table = Table(title=f"Detection run {result.run_id}")
        for col in ("kind", "subject", "flagged", "score", "categories", "why"):
            table.add_column(col, overflow="fold")
        for f in result.findings[:limit]:
            why = "; ".join(
                ", ".join(
                    f"{t['indicator']} {t['value']} {t['op']} {t['threshold']}"
                    for t in r["thresholds"]
                )
                for r in f.evidence.get("rules", [])
            )
            table.add_row(
                f.kind,
                f.subject,
                "yes" if f.flagged else "",
                f"{f.score:.2f}",
                ", ".join(f.categories),
                why,
            )
        console = stdout_console()
        console.print(table)
        w = result.window
        console.print(
            f"{w['flagged']} of {w['customers']} customers flagged (score >= {w['threshold']})"
        )
        if len(result.findings) > limit:
            console.print(f"({len(result.findings) - limit} more findings; use --json for all)")
