"""``tracehop screen``: decide calls against the rules (docs/screening.md)."""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import emit_json, emit_rows, esc, stdout_console
from tracehop.errors import InputError

if TYPE_CHECKING:
    from tracehop.settings import Settings

app = typer.Typer(help="Screen calls: check one, serve the SIP redirect server, replay the lake.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@app.command()
def check(
    ctx: typer.Context,
    caller: Annotated[str, typer.Option(help="Calling number (caller ID), any common format.")],
    called: Annotated[str, typer.Option(help="Called number, any common format.")],
    upstream: Annotated[
        str | None, typer.Option(help="The customer or provider it came from.", show_default=False)
    ] = None,
    identity: Annotated[
        str | None,
        typer.Option(
            help="The INVITE's STIR/SHAKEN Identity header: verified and judged by the "
            "TRACEHOP_SCREEN_IDENTITY policy, as the redirect server does.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What the rules in force say about one call: {"action", "sip_code", "reason",
    "rule_id"} (and the monitor-mode rules it matched; "identity", the verification's
    reason, with --identity and a policy). Nothing is audited."""
    from tracehop.screening.service import check as check_call
    from tracehop.store import open_store

    settings: Settings = ctx.obj
    with open_store(settings) as store:
        decision = check_call(settings, store, caller=caller, called=called, upstream=upstream,
                              identity=identity)  # fmt: skip
    if as_json:
        emit_json(decision.as_dict())
        return
    line = f"{decision.action}"
    if decision.sip_code:
        line += f" ({decision.sip_code})"
    line += f": {esc(decision.reason)}"
    if decision.monitored:
        line += f"; monitor-mode rules matched: {', '.join(map(str, decision.monitored))}"
    if decision.identity is not None:
        line += f"; STIR/SHAKEN: {esc(decision.identity)}"
    stdout_console().print(line)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def serve(
    ctx: typer.Context,
    sip: Annotated[
        str, typer.Option(help="Where the SIP redirect server listens (UDP), HOST:PORT.")
    ] = "127.0.0.1:5070",
    http: Annotated[
        str | None,
        typer.Option(
            help="Also serve the HTTP decide API and /metrics on HOST:PORT (needs "
            "TRACEHOP_SCREEN_TOKEN).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes answering SIP on the one socket (each decides with its own "
            "counters; /metrics counts the first).",
        ),
    ] = 1,
) -> None:
    """Run the SIP redirect server: 302 to continue, 603/607/608 with a Reason header to block
    (docs/screening.md). Rules are reloaded when they change. Ctrl-C stops it."""
    from tracehop.screening.service import (
        RetryingStore,
        fork_workers,
        parse_address,
        redirect_core,
        serving,
        stop_workers,
    )
    from tracehop.screening.sip import SipServer, bind_udp

    settings: Settings = ctx.obj
    host, port = parse_address(sip, "--sip")
    web = parse_address(http, "--http") if http else None
    if web is not None and settings.screen_token is None:
        from tracehop.errors import ConfigError

        raise ConfigError(
            "--http needs a token: set TRACEHOP_SCREEN_TOKEN (clients send it as a bearer token)"
        )
    if workers < 1:
        raise InputError("--workers must be 1 or more")
    sock = bind_udp(host, port)
    pids = fork_workers(settings, sock, workers - 1)  # before any thread starts
    # SIGTERM (systemd, docker stop) stops it like Ctrl-C: the audit log is written out first
    signal.signal(signal.SIGTERM, _interrupt)
    store = RetryingStore(settings)  # a state DB that is down: the last good rules (snapshot)
    try:
        with contextlib.closing(store):
            service = serving(settings, store)
            server = SipServer(redirect_core(settings, service), sock=sock)
            console = stdout_console()
            console.print(
                f"screening: SIP redirect server on udp {esc(server.host)}:{server.port} "
                f"({workers} process{'es' if workers > 1 else ''}), "
                f"{len(service.screener.index.rules)} rules in force"
                + (
                    " (the last rules loaded: the state DB is unavailable)"
                    if service.screener.from_snapshot
                    else ""
                )
            )
            try:
                if web is None:
                    server.run()
                else:
                    from tracehop.api.screen import create_screen_app
                    from tracehop.api.server import serve as serve_app

                    server.start()
                    console.print(f"screening: HTTP decide API on http://{esc(web[0])}:{web[1]}")
                    app = create_screen_app(service, settings, store)
                    serve_app(app, host=web[0], port=web[1], settings=settings)
            except KeyboardInterrupt:
                pass
            finally:
                server.stop()
                service.close()
    finally:
        stop_workers(pids)


@app.command()
def replay(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Window start (ISO 8601, UTC unless a zone is given).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Window end, exclusive (ISO 8601).")] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            help="Proposed rules instead of those in force: a JSON list or a CSV with kind, "
            "value[, action, sip_code, mode, reason, rate, subject].",
            show_default=False,
        ),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            help="A simulated world's folder (tracehop simulate --out): also count illegal "
            "and legal calls blocked against its truth.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="Customers shown in the table view.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """What-if: run the lake's calls through the rules and report what they would have
    blocked, per rule and per customer (with the share of its traffic)."""
    from tracehop.cli.detect import parse_time
    from tracehop.screening.replay import replay as run_replay
    from tracehop.store import open_store

    lo, hi = parse_time(since, "--since"), parse_time(until, "--until")
    if lo and hi and lo >= hi:
        raise InputError("--since must be before --until")
    with open_store(ctx.obj) as store:
        report = run_replay(ctx.obj, store, since=lo, until=hi, rules_file=rules, truth=truth)
    data = report.as_dict()
    if as_json:
        emit_json(data)
        return
    console = stdout_console()
    console.print(
        f"{data['calls']:,} calls replayed through the rules of {esc(data['rules_from'])}: "
        f"{data['blocked']:,} blocked, {data['allowed']:,} allowed "
        f"({data['emergency_allowed']:,} emergency calls, always allowed)"
    )
    emit_rows(
        ["rule_id", "kind", "value", "action", "mode", "blocked", "matched_in_monitor"],
        [tuple(r.values()) for r in data["per_rule"]],
        title="Per rule",
    )
    emit_rows(
        ["customer", "calls", "blocked", "share_pct"],
        [tuple(c.values()) for c in data["per_customer"]],
        title="Per customer",
        limit=limit,
    )
    t = data["truth"]
    if t is not None:
        console.print(
            f"Against the truth: {t.get('illegal_blocked', 0):,} of {t.get('illegal', 0):,} "
            f"illegal calls blocked, {t.get('legal_blocked', 0):,} of {t.get('legal', 0):,} "
            "legal calls blocked"
        )


@app.command()
def alerts(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Only alerts from this time on (ISO 8601).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Newest alerts shown.")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Velocity triggers that fired (rate rules), newest first: blocks and alerts."""
    from tracehop.cli.detect import parse_time
    from tracehop.screening.state import list_alerts
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        found = list_alerts(store, since=parse_time(since, "--since"), limit=limit)
    if as_json:
        emit_json(found)
        return
    cols = [
        "at",
        "rule_id",
        "action",
        "subject_kind",
        "subject",
        "count",
        "limit",
        "window_seconds",
    ]
    emit_rows(cols, [tuple(a[c] for c in cols) for a in found], title="Velocity alerts")
