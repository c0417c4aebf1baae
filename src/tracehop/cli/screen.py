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
