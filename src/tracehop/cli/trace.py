"""``tracehop trace``: answer traceback requests from this home's CDR lake."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracehop.cli.output import cell, clean, emit_json, esc, stdout_console
from tracehop.errors import InputError

if TYPE_CHECKING:
    from tracehop.settings import Settings
    from tracehop.tracebacks.protocol import HopAnswer

app = typer.Typer(help="Answer traceback requests: who sent us this call?")

DirectoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--directory",
        help="CSV of providers the hub knows (id[, in_consortium]); a carrier upstream not in "
        "it is answered provider_not_listed. Without it every carrier is received_from.",
        show_default=False,
    ),
]
ZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--business-zone",
        help="Zone of your business hours (8:00-17:00 Mon-Fri) for the 24-hour due time "
        "(default: TRACEHOP_BUSINESS_TIMEZONE, America/New_York).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the answers as JSON.")]


def _known(path: Path | None) -> set[str] | None:
    from tracehop.tracebacks.requests import load_known_providers

    return load_known_providers(path) if path is not None else None


def _zone(settings: Settings, zone: str | None) -> str:
    from tracehop.settings import check_zone

    return check_zone(zone) if zone else settings.business_timezone


@app.command()
def lookup(
    ctx: typer.Context,
    caller: Annotated[str, typer.Option(help="Calling number, any common format.")],
    called: Annotated[str, typer.Option(help="Called number, any common format.")],
    at: Annotated[
        str,
        typer.Option(help="When: 2025-03-03T16:50Z (naive = UTC), or a date only 2025-03-03."),
    ],
    window: Annotated[str, typer.Option(help="Tolerance around a timestamp: 90s, 5m, 1h.")] = "5m",
    request_id: Annotated[
        str | None,
        typer.Option(
            help="Id to store the request under (default: a new one).", show_default=False
        ),
    ] = None,
    directory: DirectoryOpt = None,
    business_zone: ZoneOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer one request: find the call, name its upstream, say which hop answer it is."""
    from tracehop.tracebacks.requests import make_request
    from tracehop.tracebacks.responder import answer_batch

    settings: Settings = ctx.obj
    settings.require_home()
    zone = _zone(settings, business_zone)
    request = make_request(
        request_id or f"lookup-{uuid.uuid4().hex[:12]}", caller, called, at, window=window
    )
    answer = answer_batch(
        settings,
        [request],
        known_providers=_known(directory),
        business_zone=zone,
    )[0]
    if as_json:
        emit_json(answer.to_json())
        return
    _print_answer(answer, zone)


@app.command()
def answer(
    ctx: typer.Context,
    requests: Annotated[
        Path, typer.Argument(help="CSV: request_id, caller, called, at[, description, window]")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Also write the JSON answers to this file.", show_default=False),
    ] = None,
    directory: DirectoryOpt = None,
    business_zone: ZoneOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer a CSV of requests. A bad row is reported with its line (answer "error") and
    does not stop the others."""
    from tracehop.analyst import jsonable
    from tracehop.tracebacks.requests import parse_requests_csv
    from tracehop.tracebacks.responder import answer_batch

    settings: Settings = ctx.obj
    settings.require_home()
    parsed = parse_requests_csv(requests)
    zone = _zone(settings, business_zone)
    known = _known(directory)
    answers = (
        answer_batch(
            settings,
            [r for _, r in parsed.requests],
            known_providers=known,
            business_zone=zone,
        )
        if parsed.requests
        else []
    )
    # One entry per row, in file order: answers and errors together.
    rows: list[tuple[int, dict[str, Any]]] = [
        (line, a.to_json()) for (line, _), a in zip(parsed.requests, answers, strict=True)
    ]
    rows += [(e.line, e.to_json()) for e in parsed.errors]
    entries = [entry for _, entry in sorted(rows, key=lambda r: r[0])]
    for e in parsed.errors:
        typer.echo(clean(f"{requests}:{e.line}: {e.reason}"), err=True)
    if out is not None:
        try:
            out.write_text(json.dumps(jsonable(entries), ensure_ascii=False, indent=1) + "\n")
        except OSError as exc:
            raise InputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    if as_json:
        emit_json(entries)
    else:
        _print_table(answers, len(parsed.errors))
    if not parsed.requests and parsed.errors:
        raise InputError(f"{requests}: no request could be read ({len(parsed.errors)} bad rows)")


def _print_answer(a: HopAnswer, zone: str) -> None:
    from tracehop.analyst import jsonable

    out = stdout_console()
    named = f" {esc(a.upstream)}" if a.upstream else ""
    out.print(f"[bold]{a.answer}[/]{named} (confidence {a.confidence:.2f})")
    if a.customer:
        c = a.customer
        out.print(f"  customer: {esc(c['name'])} ({esc(c['kind'])}, {esc(c['country'])})")
    if a.needs_review:
        out.print(f"  [yellow]needs review[/]: {esc(a.reason or 'low confidence')}")
    for m in a.matches[:5]:
        out.print(
            f"  {esc(m['start'])} {esc(m['call_id'])} {esc(m['caller'])} -> {esc(m['called'])} "
            f"from {esc(m['upstream'])} {esc(m['disposition'] or '-')} attest={esc(m['attest'] or '-')} "
            f"orig_id={esc(m['orig_id'] or '-')}"
        )
    if a.due_at:
        from zoneinfo import ZoneInfo

        local = a.due_at.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M")
        out.print(
            f"  due by {jsonable(a.due_at)} ({local} {zone}; 47 CFR 64.1200(n)(1))",
            highlight=False,
        )


def _print_table(answers: list[HopAnswer], errors: int) -> None:
    from rich.table import Table

    table = Table()
    for col in ("request_id", "answer", "upstream", "confidence", "review", "call"):
        table.add_column(col, overflow="fold")
    for a in answers:
        table.add_row(
            cell(a.request_id),
            a.answer,
            cell(a.upstream or ""),
            f"{a.confidence:.2f}",
            "yes" if a.needs_review else "",
            cell(a.matches[0]["call_id"] if a.matches else ""),
        )
    out = stdout_console()
    out.print(table)
    review = sum(a.needs_review for a in answers)
    out.print(f"{len(answers)} answered, {review} need review, {errors} bad rows")


@app.command()
def confirm(
    ctx: typer.Context,
    request_id: Annotated[str, typer.Argument(help="The request to confirm.")],
    upstream: Annotated[
        str | None,
        typer.Option(help="Correct the upstream before confirming.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Confirm a stored answer (review-first mode): the node then gives it to the hub."""
    from tracehop.store import open_store
    from tracehop.tracebacks.answers import confirm as confirm_answer

    with open_store(ctx.obj) as store:
        done = confirm_answer(store, request_id, upstream=upstream)
    if as_json:
        emit_json(done)
    else:
        stdout_console().print(f"confirmed {esc(request_id)}: upstream {esc(done['upstream'])}")
