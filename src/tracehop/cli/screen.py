"""``tracehop screen``: decide calls against the rules (docs/screening.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import emit_json, esc, stdout_console

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
    as_json: JsonOpt = False,
) -> None:
    """What the rules in force say about one call: {"action", "sip_code", "reason",
    "rule_id"} (and the monitor-mode rules it matched). Nothing is audited."""
    from tracehop.screening.service import check as check_call
    from tracehop.store import open_store

    settings: Settings = ctx.obj
    with open_store(settings) as store:
        decision = check_call(settings, store, caller=caller, called=called, upstream=upstream)
    if as_json:
        emit_json(decision.as_dict())
        return
    line = f"{decision.action}"
    if decision.sip_code:
        line += f" ({decision.sip_code})"
    line += f": {esc(decision.reason)}"
    if decision.monitored:
        line += f"; monitor-mode rules matched: {', '.join(map(str, decision.monitored))}"
    stdout_console().print(line)


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
) -> None:
    """Run the SIP redirect server: 302 to continue, 603/607/608 with a Reason header to block
    (docs/screening.md). Rules are reloaded when they change. Ctrl-C stops it."""
    from tracehop.screening.service import parse_address, redirect_core, serving
    from tracehop.screening.sip import SipServer
    from tracehop.store import open_store

    settings: Settings = ctx.obj
    host, port = parse_address(sip, "--sip")
    web = parse_address(http, "--http") if http else None
    if web is not None and settings.screen_token is None:
        from tracehop.errors import ConfigError

        raise ConfigError(
            "--http needs a token: set TRACEHOP_SCREEN_TOKEN (clients send it as a bearer token)"
        )
    with open_store(settings) as store:
        service = serving(settings, store)
        server = SipServer(redirect_core(settings, service), host, port)
        console = stdout_console()
        console.print(
            f"screening: SIP redirect server on udp {esc(server.host)}:{server.port}, "
            f"{len(service.screener.index.rules)} rules in force"
        )
        try:
            if web is None:
                server.run()
            else:
                from tracehop.api.screen import create_screen_app
                from tracehop.api.server import serve as serve_app

                server.start()
                console.print(f"screening: HTTP decide API on http://{esc(web[0])}:{web[1]}")
                serve_app(
                    create_screen_app(service, settings),
                    host=web[0],
                    port=web[1],
                    settings=settings,
                )
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            service.close()
