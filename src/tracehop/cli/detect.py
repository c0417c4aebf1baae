"""``tracehop detect``: find the customers and caller IDs that carry illegal robocalls."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import cell, emit_json, esc, stdout_console
from tracehop.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

    from tracehop.detection.watch import DayRun
    from tracehop.settings import Settings


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
    from tracehop.times import utc

    return utc(t)


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
        watch: Annotated[
            bool,
            typer.Option(
                "--watch",
                help="Keep running: re-detect on the UTC days whose Parquet files changed "
                "(from the ingest manifest) and print new or changed flagged findings.",
            ),
        ] = False,
        interval: Annotated[
            str, typer.Option(help="With --watch: time between checks (10s, 2m, 1h).")
        ] = "10s",
        iterations: Annotated[
            int, typer.Option(hidden=True, help="With --watch: stop after N checks (0: never).")
        ] = 0,
        dno: Annotated[
            Path | None,
            typer.Option(
                help="Do-Not-Originate list (CSV, a 'number' column): calls showing these "
                "numbers are the class=dno segment.",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Score every customer (and flagged caller IDs and campaigns) in a time window from
        the CDR lake; store the run and its findings (docs/detection.md)."""
        from tracehop.detection.run import load_dno, run_detection
        from tracehop.store import open_store

        lo, hi = parse_time(since, "--since"), parse_time(until, "--until")
        if lo and hi and lo >= hi:
            raise InputError("--since must be before --until")
        if min_calls < 1:
            raise InputError("--min-calls must be 1 or more")
        ctx.obj.require_home()
        if watch:
            if dno is not None:
                raise InputError("--dno is not used with --watch yet: run tracehop detect")
            _watch(ctx.obj, lo, hi, min_calls, interval, iterations, as_json)
            return
        numbers = load_dno(dno) if dno is not None else None
        with open_store(ctx.obj) as store:
            result = run_detection(
                ctx.obj, store, since=lo, until=hi, min_calls=min_calls, dno=numbers
            )
        if as_json:
            emit_json(result.as_dict())
            return
        from rich.table import Table

        table = Table(title=f"Detection run {result.run_id}")
        for col in ("kind", "subject", "flagged", "score", "categories", "why"):
            table.add_column(col, overflow="fold")
        for f in result.findings[:limit]:
            why = "; ".join(
                r["rule"]
                + (f" on {r['segment']['name']}" if "segment" in r else "")
                + ": "
                + ", ".join(
                    f"{t['indicator']} {t['value']} {t['op']} {t['threshold']}"
                    for t in r["thresholds"]
                )
                for r in f.evidence.get("rules", [])
            )
            table.add_row(
                f.kind,
                cell(f.subject),
                "yes" if f.flagged else "",
                f"{f.score:.2f}",
                cell(", ".join(f.categories)),
                cell(why),
            )
        console = stdout_console()
        console.print(table)
        w = result.window
        console.print(
            f"{w['flagged']} of {w['customers']} customers flagged (score >= {w['threshold']})"
        )
        if len(result.findings) > limit:
            console.print(f"({len(result.findings) - limit} more findings; use --json for all)")


def _watch(
    settings: Settings,
    since: datetime | None,
    until: datetime | None,
    min_calls: int,
    interval: str,
    iterations: int,
    as_json: bool,
) -> None:
    """``--watch``: one :func:`tracehop.detection.watch.watch_once` per interval until
    interrupted; prints the new and changed flagged findings of each changed day."""
    import time

    from tracehop.detection.watch import parse_interval, resume_state, watch_once
    from tracehop.store import open_store

    try:
        seconds = parse_interval(interval)
    except InputError as exc:
        raise InputError(f"--interval: {exc.message}") from None
    console = stdout_console()
    with open_store(settings) as store:
        state = resume_state(store)  # a restarted watch goes on where the last one stopped
        n = 0
        try:
            while True:
                it = watch_once(
                    settings,
                    store,
                    state,
                    since=since,
                    until=until,
                    min_calls=min_calls,
                )
                n += 1
                for day in it.days:
                    _print_day(day, console, as_json)
                if iterations and n >= iterations:
                    return
                time.sleep(seconds)
        except KeyboardInterrupt:
            return


def _print_day(day: DayRun, console: Console, as_json: bool) -> None:
    """One changed day of ``--watch``: its run and the new and changed flagged findings."""
    w = day.detection.window
    run = day.detection
    if as_json:
        seq = {id(f): i for i, f in enumerate(run.findings)}  # a finding's place: its id
        emit_json(
            {
                "day": day.day,
                "run_id": day.detection.run_id,
                "engine": day.detection.engine,
                "customers": w["customers"],
                "flagged": w["flagged"],
                "new": [run.finding_json(f, seq[id(f)]) for f in day.new],
                "changed": [run.finding_json(f, seq[id(f)]) for f in day.changed],
            }
        )
        return
    console.print(
        f"{datetime.now(UTC):%H:%M:%S} day {day.day}: {day.files} files, "
        f"{w['flagged']} of {w['customers']} customers flagged, "
        f"{len(day.new)} new, {len(day.changed)} changed (run {day.detection.run_id})"
    )
    for label, findings in (("new", day.new), ("changed", day.changed)):
        for f in findings:
            console.print(
                f"  {label}: {f.kind} {esc(f.subject)} score {f.score:.2f} "
                f"{esc(', '.join(f.categories))}",
                highlight=False,
            )
