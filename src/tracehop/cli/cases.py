"""``tracehop notice`` and ``tracehop case``: a Commission notice becomes a case with its
deadlines, investigation, mitigation and reports (docs/cases.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracehop.cli.output import cell, emit_json, emit_rows, esc, stderr_console, stdout_console

if TYPE_CHECKING:
    from tracehop.settings import Settings

notice_app = typer.Typer(help="Commission notices: read a letter (text or PDF) into a case.")
case_app = typer.Typer(help="Cases: deadlines, investigation, mitigation, reports.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
ActorOpt = Annotated[
    str, typer.Option("--actor", help="Who does this (recorded in the case's timeline).")
]


def _now() -> Any:
    from tracehop.times import SYSTEM

    return SYSTEM.now()


@notice_app.command("import")
def notice_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The letter: a PDF or a text file.")],
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Read a notice and open its case (the same letter again gives the same case)."""
    from tracehop.cases.records import import_notice
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        case, created, notice = import_notice(store, path, now=_now(), actor=actor)
    if as_json:
        emit_json({**notice.to_json(), "created": created})
        return
    out = stdout_console()
    verb = "opened" if created else "already open:"
    to = case.recipient
    if notice.addressed_to not in ("", case.recipient):  # an order or a public notice
        to = f"{notice.addressed_to}, about {case.recipient}"
    out.print(f"[bold]{verb} {esc(case.case_id)}[/]")
    out.print(
        f"  {esc(notice.notice_kind)} dated {notice.letter_date or '?'} to {esc(to)}"
        f" ({esc(notice.role or 'role not stated')})"
    )
    nr = sum(r.no_response for r in notice.rows)
    out.print(f"  Attachment A: {len(notice.rows)} rows ({nr} No Response)")
    for d in case.deadlines:
        out.print(f"  due {esc(d['due'])}: {esc(d['name'])} ({esc(d['basis'])})")
    for p in notice.problems:
        out.print(f"  [yellow]not understood[/]: {esc(p)}")


@case_app.command("list")
def case_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every case, newest letter first, with its next open deadline."""
    from tracehop.cases.records import list_cases
    from tracehop.store import open_store

    ctx.obj.require_home()
    with open_store(ctx.obj) as store:
        rows = list_cases(store)
    if as_json:
        emit_json(rows)
        return
    cols = ["case_id", "status", "letter_date", "recipient", "next_deadline", "next_due"]
    emit_rows(cols, [[r[c] for c in cols] for r in rows], title="Cases")


@case_app.command("show")
def case_show(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case (tracehop case list).")],
    as_json: JsonOpt = False,
) -> None:
    """One case: the notice, deadlines, Attachment A with each row's investigation, the
    timeline and links."""
    from tracehop.cases.records import get_case
    from tracehop.store import open_store

    ctx.obj.require_home()
    with open_store(ctx.obj) as store:
        case = get_case(store, case_id)
    if as_json:
        emit_json(case.to_json())
        return
    _print_case(case.to_json())


def _print_case(c: dict[str, Any]) -> None:
    from rich.table import Table

    from tracehop.cases.records import event_text

    out = stdout_console()
    out.print(f"[bold]{esc(c['case_id'])}[/] ({esc(c['status'])})")
    out.print(
        f"  {esc(c['notice_kind'])} dated {c['letter_date'] or '?'} from "
        f"{esc(c['sender'].get('company', ''))} to {esc(c['recipient'])}"
    )
    for d in c["deadlines"]:
        met = f"met {esc(d['met_at'])} by {esc(d['met_by'])}" if d["met_at"] else "open"
        if d["late"]:
            met += ", [red]late[/]"
        out.print(f"  {esc(d['name'])}: due {esc(d['due'])} ({met}) - {esc(d['basis'])}")
    rules = [x for x in c["links"] if x["kind"] == "rule"]
    if rules:
        out.print("  rules in place: " + "; ".join(f"{esc(x['ref'])} {esc(x['note'] or '')}"
                                                   for x in rules))  # fmt: skip
    table = Table(title="Attachment A")
    for col in ("#", "customer", "date", "description", "ours", "found"):
        table.add_column(col, overflow="fold")
    for r in c["rows"]:
        inv = r["investigation"] or {}
        ours = r["matched_customer"] or ""
        if ours and r["match_score"] is not None:
            ours += f" ({r['match_score']:.0f}{', confirmed' if r['match_confirmed'] else ''})"
        table.add_row(
            str(r["number"]),
            cell(r["customer"]),
            r["date"],
            cell(r["description"]),
            cell(ours),
            cell(inv.get("summary", "")),
        )
    out.print(table)
    for e in c["events"][-10:]:
        what = event_text(e["kind"], e["detail"])
        out.print(f"  {esc(e['at'][:19])} {esc(e['actor'])}: {esc(what)}")


@case_app.command("due")
def case_due(
    ctx: typer.Context,
    within: Annotated[
        str, typer.Option(help="Warn about deadlines due within this long: 24h, 2d, 90m.")
    ] = "24h",
    as_json: JsonOpt = False,
) -> None:
    """Open deadlines past due or due soon (for cron); exit 2 when one is overdue."""
    from datetime import timedelta

    from tracehop.cases.records import due
    from tracehop.store import open_store
    from tracehop.times import parse_duration

    span = timedelta(seconds=parse_duration(within, what="--within"))
    ctx.obj.require_home()
    with open_store(ctx.obj) as store:
        rows = due(store, now=_now(), within=span)
    if as_json:
        emit_json(rows)
    else:
        cols = ["case_id", "deadline", "due", "hours_left", "overdue", "recipient"]
        emit_rows(cols, [[r[c] for c in cols] for r in rows], title=f"Due within {within}")
    if any(r["overdue"] for r in rows):
        raise typer.Exit(2)


@case_app.command("status")
def case_status(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case.")],
    status: Annotated[str, typer.Argument(help="investigating, mitigated, reported or closed.")],
    actor: ActorOpt = "cli",
) -> None:
    """Move a case to another status (recorded in its timeline); `reported` (the report or
    response went to the Commission) meets its report and response deadlines."""
    from tracehop.cases.records import set_status
    from tracehop.store import open_store

    settings: Settings = ctx.obj
    with open_store(settings) as store:
        met = set_status(store, case_id, status, actor=actor, now=_now())
    out = stdout_console()
    for name, late in met:
        out.print(_met_line(name, late, "the case is reported"))
    out.print(f"{esc(case_id)}: {esc(status)}")


def _met_line(name: str, late: bool | None, how: str) -> str:
    if late is None:
        return f"{esc(name)} had been met before"
    return (
        f"[{'yellow' if late else 'green'}]{esc(name)} met{' late' if late else ''}[/]: {esc(how)}"
    )


@case_app.command("meet")
def case_meet(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case.")],
    deadline: Annotated[str, typer.Argument(help="The deadline's name (case show lists them).")],
    by: Annotated[
        str, typer.Option(help="What met it, for the timeline (e.g. 'response emailed to EB').")
    ],
    actor: ActorOpt = "cli",
) -> None:
    """Record that a deadline was met by something done outside tracehop (a response sent,
    a call with the Commission's staff), with what met it."""
    from tracehop.cases.records import meet_deadline
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        late = meet_deadline(store, case_id, deadline, by=by, actor=actor, now=_now())
    stdout_console().print(_met_line(deadline, late, by))


@case_app.command("investigate")
def case_investigate(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case.")],
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Investigate every Attachment A row with this home's records: match the named customers,
    look up the calls (or the customer's traffic that day), run detection."""
    from tracehop.cases.investigate import investigate
    from tracehop.store import open_store

    settings: Settings = ctx.obj
    with open_store(settings) as store:
        summary = investigate(settings, store, case_id, actor=actor, now=_now())
    if as_json:
        emit_json(summary)
        return
    out = stdout_console()
    matched = (
        f"{summary['matched']} matched to our customers {esc(', '.join(summary['customers']))}"
        if summary["matched"]
        else "none matched to a customer of ours"
    )
    out.print(
        f"{summary['rows']} rows ({summary['no_response']} No Response): {matched}; "
        f"{summary['confirmed_in_records']} confirmed in our records; flagged by detection: "
        f"{esc(', '.join(summary['flagged_by_detection']) or 'none')}"
    )
    if summary["unmatched_names"]:
        out.print(
            "  [yellow]names not matched[/]: "
            + esc("; ".join(summary["unmatched_names"]))
            + f" (confirm or correct: tracehop case match {esc(case_id)} ROW CUSTOMER)"
        )


@case_app.command("match")
def case_match(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case.")],
    row: Annotated[int, typer.Argument(help="The row number of Attachment A.")],
    customer: Annotated[str, typer.Argument(help="Our customer id, or 'none'.")],
    actor: ActorOpt = "cli",
) -> None:
    """Confirm or correct which of our customers a row of the letter means."""
    from tracehop.cases.investigate import set_match
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        set_match(store, case_id, row, None if customer == "none" else customer, actor=actor,
                  now=_now())  # fmt: skip
    stdout_console().print(f"row {row} of {esc(case_id)}: {esc(customer)} (confirmed)")


@case_app.command("report")
def case_report(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case.")],
    kind: Annotated[str, typer.Option("--kind", help="mitigation, report-14d or intent-to-block.")],
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf or FILE.html")],
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Render a report of the case (the register a regulator expects) to PDF or HTML."""
    from tracehop.cases.records import get_case
    from tracehop.cases.reports import write_report
    from tracehop.store import open_store

    settings: Settings = ctx.obj
    with open_store(settings) as store:
        path = write_report(settings, store, case_id, kind, out, actor=actor, now=_now())
        # where its figures were computed, as the report's timeline event recorded it
        done = [e for e in get_case(store, case_id).events if e["kind"] == "report"][-1]
    if not settings.provider_name and settings.provider == "self":
        # a letter to the Commission that does not say who sends it
        stderr_console().print(
            "[yellow]Warning:[/] the report names no provider: it says "
            + esc("[TRACEHOP_PROVIDER_NAME]")
            + " where your company's name goes. Set TRACEHOP_PROVIDER_NAME "
            "(and TRACEHOP_PROVIDER) and write it again before sending it.",
            markup=True,
            highlight=False,
        )
    if as_json:
        emit_json({"case_id": case_id, "kind": kind, "path": str(path),
                   "engine": done["detail"].get("engine")})  # fmt: skip
    else:
        stdout_console().print(f"wrote {esc(path)}")


@case_app.command("mitigate")
def case_mitigate(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case.")],
    action: Annotated[
        str,
        typer.Argument(
            help="block-customer, terminate, block-caller-ids, require-documents or block-provider."
        ),
    ],
    customer: Annotated[
        str | None, typer.Option(help="Our customer (its upstream id).", show_default=False)
    ] = None,
    caller_id: Annotated[
        list[str] | None,
        typer.Option(
            "--caller-id",
            help="A caller ID to block (repeat; default: those of the letter's rows).",
            show_default=False,
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help="block-provider: the notified provider's upstream id.", show_default=False
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option(help="Why (default: the case and its letter).", show_default=False),
    ] = None,
    sip_code: Annotated[
        int | None, typer.Option(help="603 (default), 607 or 608.", show_default=False)
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(help="End the rules at a time or after a span (7d).", show_default=False),
    ] = None,
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Mitigate: screening rules linked to the case, recorded in its timeline; the 48-hour
    deadline is met when rules that stop the traffic are in place."""
    from tracehop.cases.mitigate import mitigate
    from tracehop.cli.block import parse_when
    from tracehop.store import open_store
    from tracehop.times import SYSTEM

    settings: Settings = ctx.obj
    expires_at = parse_when(expires, "--expires", SYSTEM.now())
    with open_store(settings) as store:
        m = mitigate(settings, store, case_id, action, actor=actor, customer=customer,
                     provider=provider, caller_ids=caller_id, reason=reason, sip_code=sip_code,
                     expires_at=expires_at)  # fmt: skip
    if as_json:
        emit_json(m.to_json())
        return
    out = stdout_console()
    for r in m.rules:
        verb = "blocks" if r.mode == "enforce" else "monitors (does not block)"
        out.print(f"rule {r.id} {verb} {esc(r.kind)} {esc(r.value)}"
                  + (f" with SIP {r.sip_code}" if r.mode == "enforce" else ""))  # fmt: skip
    for name in m.deadlines_met:
        out.print(_met_line(name, name in m.deadlines_late, "the rules are in place"))
    if m.still_open:
        out.print(
            "[yellow]the mitigation deadline stays open: the letter's rows also name "
            f"{esc(', '.join(m.still_open))}, whose calls no rule blocks yet[/]"
        )
    if not m.deadlines_met and all(r.mode == "monitor" for r in m.rules):
        out.print(
            "[yellow]monitor rules do not stop the traffic: the 48-hour deadline stays open[/]"
        )
    out.print(f"{esc(case_id)}: {esc(m.status)}")


@case_app.command("notify-intent")
def case_notify_intent(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(help="The case about the notified provider.")],
    provider: Annotated[str, typer.Option(help="Its upstream id in our CDRs.")],
    out: Annotated[Path, typer.Option("--out", help="FILE.pdf or FILE.html")],
    basis: Annotated[
        str | None,
        typer.Option(
            help="The brief summary of the basis (default: from the case).", show_default=False
        ),
    ] = None,
    sent: Annotated[
        str | None, typer.Option(help="Sent on (YYYY-MM-DD; default today).", show_default=False)
    ] = None,
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Write the notice to the Commission of intent to block a notified provider and record it
    as sent (47 CFR 64.1200(k)(4)); then `case mitigate CASE block-provider` can enforce."""
    from datetime import date

    from tracehop.cases.mitigate import notify_intent
    from tracehop.errors import InputError
    from tracehop.store import open_store

    try:
        sent_on = date.fromisoformat(sent) if sent else None
    except ValueError:
        raise InputError(f"--sent {sent!r}: give a date, YYYY-MM-DD") from None
    settings: Settings = ctx.obj
    with open_store(settings) as store:
        path, notice_id = notify_intent(settings, store, case_id, provider=provider, out=out,
                                        actor=actor, basis=basis, sent_on=sent_on)  # fmt: skip
    if as_json:
        emit_json({"case_id": case_id, "provider": provider, "path": str(path),
                   "notice_id": notice_id})  # fmt: skip
        return
    console = stdout_console()
    console.print(f"wrote {esc(path)}; notice {notice_id} recorded as sent")
    console.print(
        f"then: tracehop case mitigate {esc(case_id)} block-provider --provider {esc(provider)}"
    )


rmd_app = typer.Typer(help="The provider's Robocall Mitigation Database filing data.")


@rmd_app.command("export")
def rmd_export(
    ctx: typer.Context,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print it as Markdown to paste into the filing.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The filing data (roles, STIR/SHAKEN, the mitigation plan stated from this home's
    records, the next March 1 recertification); a copy is kept in HOME/rmd/."""
    import sys

    from tracehop.cases.rmd import export, to_markdown
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        record, path = export(ctx.obj, store, now=_now())
    if as_json:
        emit_json({**record, "kept": str(path)})
    elif markdown:
        sys.stdout.write(to_markdown(record) + "\n")
    else:
        out = stdout_console()
        out.print(
            f"[bold]{esc(record['legal_name'])}[/] (RMD {esc(record['rmd_id'] or 'not set')})"
        )
        out.print(f"  roles: {esc(', '.join(record['roles']) or 'not set')}; next recertification "
                  f"{record['next_recertification']}; kept in {esc(path)}")  # fmt: skip
        for part in record["mitigation_plan"]:
            out.print(f"  {esc(part['heading'])}: {esc(part['text'])}")
