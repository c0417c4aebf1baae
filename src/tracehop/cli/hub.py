"""``tracehop hub``: the consortium's side: a provider directory and hop-by-hop tracing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracehop.cli.output import clean, emit_json, emit_rows, esc, stdout_console

if TYPE_CHECKING:
    from tracehop.settings import Settings
    from tracehop.tracebacks.traces import Trace

# = tracehop.tracebacks.batch.DEFAULT_WORKERS (tests/test_cli.py checks): written here so that the
# CLI starts without importing the hub (HTTPX, SQLAlchemy, DuckDB).
DEFAULT_WORKERS = 8

app = typer.Typer(help="The traceback hub: provider directory, hop-by-hop traces, summaries.")
directory_app = typer.Typer(help="The provider directory (who each provider is, its node).")
blocks_app = typer.Typer(help="Number blocks: which provider terminates each NPA-NXX.")
app.add_typer(directory_app, name="directory")
origins_app = typer.Typer(help="Known orig_ids (STIR/SHAKEN origid) and their providers.")
app.add_typer(blocks_app, name="blocks")
app.add_typer(origins_app, name="origins")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
DeadlineOpt = Annotated[
    str,
    typer.Option(
        "--hop-timeout",
        help="How long each node has to answer before the hop is No Response: 10s, 5m, 24h "
        "(47 CFR 64.1200(n)(1) gives providers 24 hours).",
    ),
]


@directory_app.command("import")
def directory_import(
    ctx: typer.Context,
    directory: Annotated[
        Path,
        typer.Argument(
            help="CSV: id, name, country[, roles, in_consortium, rmd_listed, rmd_id, contact, "
            "node_url, token] (the simulator's directory.csv works as is)"
        ),
    ],
    nodes: Annotated[
        Path | None,
        typer.Option(
            "--nodes", help="CSV: id, node_url[, token, contact] per provider.", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or update providers (all rows or none); providers not in the file stay."""
    from tracehop.store import open_store
    from tracehop.tracebacks.directory import import_directory

    with open_store(ctx.obj) as store:
        result = import_directory(store, directory, nodes, settings=ctx.obj)
    if as_json:
        emit_json(result.to_json())
    else:
        stdout_console().print(
            f"{result.created} created, {result.updated} updated, "
            f"{result.nodes} with a node URL from --nodes"
        )


@directory_app.command("list")
def directory_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print as CSV.")] = False,
) -> None:
    """List the providers (tokens are never shown: only whether one is set)."""
    from tracehop.store import open_store
    from tracehop.tracebacks.directory import load_directory

    with open_store(ctx.obj) as store:
        rows = [p.to_json() for p in load_directory(store).values()]
    columns = ["id", "name", "country", "in_consortium", "rmd_listed", "node_url", "token"]
    if as_json:
        emit_json(rows)
        return
    emit_rows(columns, [[r[c] for c in columns] for r in rows], as_csv=as_csv, title="Providers")


@blocks_app.command("import")
def blocks_import(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help="CSV: npa_nxx, provider[, use] (replaces all blocks)")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Replace the number blocks (portability data: where a trace starts)."""
    from tracehop.store import open_store
    from tracehop.tracebacks.directory import import_blocks

    with open_store(ctx.obj) as store:
        n = import_blocks(store, path)
    if as_json:
        emit_json({"blocks": n})
    else:
        stdout_console().print(f"{n} number blocks")


ShortcutOpt = Annotated[
    bool,
    typer.Option(
        "--shortcut",
        help="When the first hop's best match is A-attested with an orig_id the hub knows, ask "
        "that originating provider directly (off: the record stays hop by hop).",
    ),
]


@origins_app.command("import")
def origins_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV: orig_id, provider (providers' own lists)")],
    as_json: JsonOpt = False,
) -> None:
    """Create or update known orig_ids (all rows or none); the hub also learns them from
    traces that end at an origin with an A-attested match."""
    from tracehop.store import open_store
    from tracehop.tracebacks.shortcut import import_origins

    with open_store(ctx.obj) as store:
        n = import_origins(store, path)
    if as_json:
        emit_json({"origins": n})
    else:
        stdout_console().print(f"{n} orig_ids imported")


@origins_app.command("list")
def origins_list(
    ctx: typer.Context,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print as CSV.")] = False,
) -> None:
    """List the known orig_ids: provider, the trace learned from (empty: imported), times seen."""
    from tracehop.store import open_store
    from tracehop.tracebacks.shortcut import list_origins

    with open_store(ctx.obj) as store:
        rows = list_origins(store)
    if as_json:
        emit_json(rows)
        return
    columns = ["orig_id", "provider", "trace_id", "learned_at", "times_seen"]
    emit_rows(columns, [[r[c] for c in columns] for r in rows], as_csv=as_csv, title="Origins")


@app.command("trace")
def trace_(
    ctx: typer.Context,
    caller: Annotated[str, typer.Option(help="Calling number as reported.")],
    called: Annotated[str, typer.Option(help="Called number as reported.")],
    at: Annotated[
        str, typer.Option(help="When: 2025-03-03T16:50Z (naive = UTC), or a date 2025-03-03.")
    ],
    start_at: Annotated[
        str | None,
        typer.Option(
            help="Provider to ask first (default: the called number's block owner).",
            show_default=False,
        ),
    ] = None,
    hop_timeout: DeadlineOpt = "24h",
    reference: Annotated[
        str | None,
        typer.Option(help="Your reference (e.g. a complaint id).", show_default=False),
    ] = None,
    description: Annotated[str, typer.Option(help="What was reported.")] = "",
    shortcut: ShortcutOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Trace one call hop by hop from the terminating provider to where it ends."""
    from tracehop.tracebacks.hub import open_hub, parse_deadline, trace

    settings: Settings = ctx.obj
    deadline = parse_deadline(hop_timeout)
    with open_hub(settings) as hub:
        t = trace(
            hub,
            caller,
            called,
            at,
            start_at=start_at,
            hop_timeout=deadline,
            reference=reference or f"cli-{uuid.uuid4().hex[:8]}",
            description=description,
            shortcut=shortcut,
        )
    if as_json:
        emit_json(t.to_json())
    else:
        _print_trace(t)


@app.command("trace-batch")
def trace_batch_(
    ctx: typer.Context,
    complaints: Annotated[
        Path,
        typer.Argument(
            help="CSV: the simulator's complaints.csv, or caller, called, at[, description]"
        ),
    ],
    workers: Annotated[int, typer.Option(help="Traces at once.")] = DEFAULT_WORKERS,
    hop_timeout: DeadlineOpt = "24h",
    limit: Annotated[
        int | None, typer.Option(help="Trace only the first N complaints.", show_default=False)
    ] = None,
    raw: Annotated[bool, typer.Option("--raw", help="With --json: each node's answer.")] = False,
    shortcut: ShortcutOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Trace every complaint of a CSV (bad rows are reported with their line)."""
    from tracehop.tracebacks.batch import trace_batch
    from tracehop.tracebacks.hub import open_hub, parse_deadline

    settings: Settings = ctx.obj
    deadline = parse_deadline(hop_timeout)
    with open_hub(settings) as hub:
        result = trace_batch(
            hub, complaints, workers=workers, hop_timeout=deadline, limit=limit, shortcut=shortcut
        )
    for e in result.errors:
        typer.echo(clean(f"{complaints}:{e.line}: {e.reason}"), err=True)
    if as_json:
        emit_json(result.to_json(raw=raw))
        return
    rows = [
        [
            t.reference,
            t.outcome,
            t.outcome_provider,
            t.outcome_customer,
            t.gateway,
            " > ".join(h.provider for h in t.hops),
            t.seconds,
        ]
        for t in result.traces
    ]
    emit_rows(
        ["reference", "outcome", "where", "named", "gateway", "hops", "seconds"],
        rows,
        title="Traces",
    )
    outcomes = result.to_json()["outcomes"]
    stdout_console().print(
        f"{len(result.traces)} traced ("
        + ", ".join(f"{k} {v}" for k, v in outcomes.items())
        + f"), {len(result.errors)} bad rows"
    )


@app.command("show")
def show(
    ctx: typer.Context,
    trace_id: Annotated[str, typer.Argument(help="A trace id (tb-...).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one stored trace with every hop."""
    from tracehop.store import open_store
    from tracehop.tracebacks.traces import get_trace

    with open_store(ctx.obj) as store:
        t = get_trace(store, trace_id)
    if as_json:
        emit_json(t.to_json())
    else:
        _print_trace(t)


@app.command("summary")
def summary_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Per provider: traces it was asked in; origin, gateway, No Response and where traces
    ended otherwise."""
    from tracehop.store import open_store
    from tracehop.tracebacks.campaigns import summary_with_campaigns

    with open_store(ctx.obj) as store:
        rows = summary_with_campaigns(store)
    if as_json:
        emit_json(rows)
        return
    columns = [
        "provider",
        "country",
        "asked",
        "campaigns",
        "origin",
        "gateway",
        "no_response",
        "not_found",
        "foreign_entry",
        "not_listed",
    ]
    emit_rows(columns, [[r[c] for c in columns] for r in rows], title="Per provider")


@app.command("campaigns")
def campaigns_(
    ctx: typer.Context,
    min_traces: Annotated[
        int, typer.Option(help="Show campaigns of at least this many traces.")
    ] = 2,
    limit: Annotated[int, typer.Option(help="Campaigns shown in the table view.")] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Group the hub's traces into campaigns across providers: traces that share an
    orig_id, an origin, caller IDs or their 100-block, the upstream where they left the
    consortium (with the same kind of caller ID), or a flooded number or dialled range on
    one day (docs/detection.md, "Campaigns across providers")."""
    from tracehop.errors import InputError
    from tracehop.store import open_store
    from tracehop.tracebacks.campaigns import find_campaigns

    if min_traces < 2:
        raise InputError("--min-traces must be 2 or more: a campaign ties two traces or more")
    with open_store(ctx.obj) as store:
        report = find_campaigns(store, min_traces=min_traces)
    data = report.to_json()
    if as_json:
        emit_json(data)
        return
    rows = []
    for c in data["items"][:limit]:
        tied: dict[str, int] = {}  # per kind of key, the most traces one key of it ties
        for key, n in c["keys"].items():
            kind = key.split(":", 1)[0]
            tied[kind] = max(tied.get(kind, 0), n)
        rows.append(
            [
                c["campaign_id"],
                c["traces"],
                c["style"],
                c["first_call"],
                c["last_call"],
                " ".join(c["gateways"]) or "-",
                " ".join([*c["origins"], *c["entries"]]) or "-",
                " ".join(f"{k}({n})" for k, n in tied.items()),
            ]
        )
    emit_rows(
        ["campaign", "traces", "caller IDs", "first call", "last call", "gateways",
         "origin / entry", "tied by"],
        rows,
        title="Campaigns (hub campaigns --json: every trace, key and provider)",
    )  # fmt: skip
    stdout_console().print(
        f"{data['campaigns']} campaigns hold {data['traces_in_campaigns']} of "
        f"{data['traces']} traces ({data['unlinked_traces']} tied to no other)",
        highlight=False,
    )


def _print_trace(t: Trace) -> None:
    """A trace as a person reads it; every value from a node or a complaint is escaped."""
    out = stdout_console()
    out.print(
        f"[bold]{esc(t.outcome)}[/] at {esc(t.outcome_provider or '-')}"
        + (f" ({esc(t.outcome_customer)})" if t.outcome_customer else "")
        + f": {esc(t.reason)}"
    )
    out.print(
        f"  trace {esc(t.trace_id)} {esc(t.caller)} -> {esc(t.called)} at {t.to_json()['at']}"
        + (f", gateway {esc(t.gateway)}" if t.gateway else "")
        + (f", shortcut via orig_id {esc(t.shortcut_via)}" if t.shortcut_via else "")
        + (f", {t.seconds:.2f} s" if t.seconds is not None else "")
    )
    for h in t.hops:
        took = f"{h.seconds:.2f} s" if h.seconds is not None else f"{h.attempts} attempt(s)"
        named = f" {esc(h.upstream)}" if h.upstream else ""
        review = " [yellow](needs review)[/]" if h.needs_review else ""
        detour = h.answer == "no_response" or h.reason.startswith("shortcut:")
        why = f" - {esc(h.reason)}" if detour else ""
        out.print(
            f"  hop {h.hop}: {esc(h.provider):<14} {esc(h.answer)}{named} ({took}){review}{why}"
        )


notice_app = typer.Typer(help="Notices drafted from the hub's traces, for the Commission.")
app.add_typer(notice_app, name="notice")


@notice_app.command("draft")
def notice_draft(
    ctx: typer.Context,
    provider: Annotated[str, typer.Option("--provider", help="The provider to notify.")],
    out: Annotated[Path, typer.Option("--out", help="Write the letter (text) here.")],
    since: Annotated[
        str | None, typer.Option(help="Calls from this date (2025-03-01).", show_default=False)
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Calls before this date.", show_default=False)
    ] = None,
    letter_date: Annotated[
        str | None, typer.Option(help="The letter's date (default today).", show_default=False)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft a notice to a provider with Attachment A from the hub's traces: every traced
    call in which it was the gateway or the originator or did not respond."""
    from datetime import date

    from tracehop.cases.draft import draft_notice, provider_summary
    from tracehop.store import open_store
    from tracehop.times import SYSTEM
    from tracehop.tracebacks.protocol import parse_at

    def when(v: str | None) -> Any:
        return None if v is None else parse_at(v)

    day = date.fromisoformat(letter_date) if letter_date else SYSTEM.now().date()
    with open_store(ctx.obj) as store:
        text, rows = draft_notice(store, provider, letter_date=day, since=when(since),
                                  until=when(until))  # fmt: skip
    out.write_text(text, encoding="utf-8")
    summary = {"provider": provider, "path": str(out), **provider_summary(rows)}
    if as_json:
        emit_json(summary)
    else:
        stdout_console().print(
            f"wrote {esc(out)}: {summary['rows']} calls ({summary['no_response']} No Response), "
            f"customers {esc(', '.join(summary['customers']) or '-')}"
        )


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8480,
) -> None:
    """Serve the hub's traces, summary and directory as read-only JSON (uvicorn). With
    TRACEHOP_HUB_TOKEN set, every endpoint but /api/v1/health needs it as a bearer token."""
    from tracehop.api.hub import create_hub_app
    from tracehop.api.server import serve as serve_app

    settings: Settings = ctx.obj
    if settings.hub_token is None and host not in ("127.0.0.1", "localhost", "::1"):
        stdout_console().print(
            f"Warning: serving traces on {host} without TRACEHOP_HUB_TOKEN: anyone who can "
            "reach it can read them."
        )
    serve_app(create_hub_app(settings), host=host, port=port, settings=settings)
