"""``tracehop block``: the screening rules (docs/screening.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import cell, emit_json, emit_rows, esc, stdout_console
from tracehop.errors import InputError

if TYPE_CHECKING:
    from tracehop.screening.rules import Rule
    from tracehop.settings import Settings

app = typer.Typer(help="Block and allow rules for screening calls (docs/screening.md).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
ModeOpt = Annotated[
    str,
    typer.Option(help="enforce: applied to calls; monitor: decided and counted, never applied."),
]
SipOpt = Annotated[
    int | None,
    typer.Option(
        "--sip-code",
        help="SIP answer to a blocked call: 603 (603+ Network Blocked), 607 or 608.",
        show_default=False,
    ),
]
ExpiresOpt = Annotated[
    str | None,
    typer.Option(
        help="When the rule stops: a time (ISO 8601, UTC unless a zone is given) or a span "
        "from now (24h, 7d).",
        show_default=False,
    ),
]
AuthorOpt = Annotated[
    str | None,
    typer.Option(help="Who applies it (default: your user name).", show_default=False),
]

COLUMNS = ("id", "kind", "value", "action", "sip_code", "mode", "reason", "author", "expires_at")


def _author(author: str | None) -> str:
    if author:
        return author
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def parse_when(value: str | None, option: str, now: datetime) -> datetime | None:
    """A time (ISO 8601) or a span from ``now`` (``24h``, ``7d``)."""
    from tracehop.times import parse_when as parse

    return parse(value, option, now)


def _rule_row(r: Rule) -> tuple[object, ...]:
    return (
        r.id,
        r.kind,
        r.value if r.kind not in ("rate", "short_share") else f"{r.value} {_rate_text(r)}",
        r.action,
        r.sip_code or "",
        r.mode,
        r.reason,
        r.author,
        r.expires_at.isoformat() if r.expires_at else "",
    )


def _rules_table(rules: list[Rule]) -> None:
    """The rules in a terminal of any width: what the rule matches and does never wraps,
    the reason is cut with an ellipsis (``--json`` has all of it)."""
    from rich.table import Table

    rows: list[tuple[str, ...]] = []
    for r in rules:
        shown = _rule_row(r)[2]
        rows.append((str(r.id), f"{r.kind} {shown}",
                     f"{r.action} {r.sip_code}" if r.sip_code else r.action, r.mode, r.reason,
                     r.author, r.expires_at.strftime("%Y-%m-%d %H:%M") if r.expires_at else ""))  # fmt: skip
    names: tuple[str, ...] = ("id", "matches", "does", "mode", "reason", "by", "expires")
    if not any(row[6] for row in rows):  # no rule expires: no empty column
        names, rows = names[:6], [row[:6] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(names)]
    out = stdout_console()
    # the reason (then the author) gives way so the rest fits: 3 characters of border each
    room = out.width - 1 - 3 * len(names) - sum(w for n, w in zip(names, widths, strict=True)
                                                if n not in ("reason", "by"))  # fmt: skip
    widths[5] = min(widths[5], max(2, room // 4))
    widths[4] = max(6, min(widths[4], room - widths[5]))
    table = Table(title="Screening rules", title_justify="left")
    for name, width in zip(names, widths, strict=True):
        table.add_column(name, no_wrap=True, overflow="ellipsis", width=width)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    out.print(table)
    if not rules:
        out.print("No rules. `tracehop block add --help` shows how to add one.")


def _rate_text(r: Rule) -> str:
    p = r.params or {}
    if r.kind == "short_share":
        return (
            f"short share >= {p.get('share')} of {p.get('min_answered')}+ answered in "
            f"{p.get('window'):g} s per {p.get('subject')}"
        )
    per = "s" if p.get("window") == 1 else "min"
    return f"{p.get('limit')}/{per} per {p.get('subject')}"


def _print_rules(rules: list[Rule], as_json: bool, verb: str) -> None:
    if as_json:
        emit_json(
            rules[0].as_dict()
            if len(rules) == 1 and verb != "list"
            else [r.as_dict() for r in rules]
        )
        return
    if verb == "list":
        _rules_table(rules)
        return
    console = stdout_console()
    for r in rules:
        what = (
            f"{r.kind} {r.value}"
            if r.kind not in ("rate", "short_share")
            else f"{_rate_text(r)} ({r.value})"
        )
        console.print(f"{verb} rule {r.id}: {r.action} {esc(what)} ({r.mode})")


@app.command()
def add(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why: the finding, notice or complaint behind it.")],
    caller_id: Annotated[
        str | None, typer.Option("--caller-id", help="One caller ID.", show_default=False)
    ] = None,
    caller_prefix: Annotated[
        str | None,
        typer.Option(
            help="Caller IDs starting with (E.164 +1202555, or NANP digits).", show_default=False
        ),
    ] = None,
    customer: Annotated[
        str | None, typer.Option(help="A customer (its upstream id in CDRs).", show_default=False)
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help="An upstream provider: blocking needs a notice recorded first "
            "(tracehop block notice; 47 CFR 64.1200(k)(4)).",
            show_default=False,
        ),
    ] = None,
    called: Annotated[
        str | None, typer.Option(help="A called number (TDoS protection).", show_default=False)
    ] = None,
    class_: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="A caller-ID class: invalid, dno, invalid_length, invalid_npa, unassigned_npa, "
            "n11, fictional, toll_free, premium_international, caller_equals_called, missing.",
            show_default=False,
        ),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            help="A rate limit: N/s or N/min, for the --customer, --caller-id or --called "
            "given, or for each one (--each).",
            show_default=False,
        ),
    ] = None,
    short_share: Annotated[
        float | None,
        typer.Option(
            help="A short-call share trigger: over this share (0-1) of answered calls shorter "
            "than 6 s, for the --customer or --caller-id given, or --each one.",
            show_default=False,
        ),
    ] = None,
    min_answered: Annotated[
        int, typer.Option(help="With --short-share: answered calls needed before it judges.")
    ] = 100,
    window: Annotated[str, typer.Option(help="With --short-share: the window (15m, 1h).")] = "15m",
    each: Annotated[
        str | None,
        typer.Option(
            help="With --rate or --short-share: count for every customer, caller-id (or "
            "called, for --rate).",
            show_default=False,
        ),
    ] = None,
    action: Annotated[
        str, typer.Option(help="block or allow (rate and short-share: block or alert).")
    ] = "block",
    sip_code: SipOpt = None,
    mode: ModeOpt = "enforce",
    expires: ExpiresOpt = None,
    finding: Annotated[
        str | None, typer.Option(help="The detection finding (RUN_ID:SEQ).", show_default=False)
    ] = None,
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a rule; prints it with its id. Emergency numbers (911, 933, PSAP lines) are never
    blocked: a rule that would block one is refused."""
    from tracehop.screening.service import add_checked_rule
    from tracehop.store import open_store
    from tracehop.times import SYSTEM, parse_duration

    settings: Settings = ctx.obj
    targets = {
        "caller_id": caller_id,
        "caller_prefix": caller_prefix,
        "customer": customer,
        "provider": provider,
        "called": called,
        "class": class_,
    }
    now = SYSTEM.now()
    kind, value, subject = _target(targets, rate, short_share, each)
    with open_store(settings) as store:
        stored = add_checked_rule(
            settings,
            store,
            kind,
            value,
            reason=reason,
            author=_author(author),
            action=action,
            sip_code=sip_code,
            mode=mode,
            finding=finding,
            rate=rate,
            subject=subject,
            share=short_share,
            min_answered=min_answered,
            window=parse_duration(window, what="--window"),
            expires_at=parse_when(expires, "--expires", now),
        )
    _print_rules([stored], as_json, "added")


def _target(
    targets: dict[str, str | None], rate: str | None, short_share: float | None, each: str | None
) -> tuple[str, str, str | None]:
    """(kind, value, subject) from the target options of ``block add``."""
    given = [(k, v) for k, v in targets.items() if v is not None]
    if rate is not None and short_share is not None:
        raise InputError("give --rate or --short-share, not both")
    if rate is None and short_share is None:
        if len(given) != 1 or each is not None:
            raise InputError(
                "give exactly one of --caller-id, --caller-prefix, --customer, --provider, "
                "--called, --class (or --rate, --short-share)"
            )
        return given[0][0], given[0][1] or "", None
    kind = "rate" if rate is not None else "short_share"
    if each is not None:
        if given:
            raise InputError("--each counts every one: give no other target")
        return kind, "*", each.replace("-", "_")
    if len(given) == 1 and given[0][0] in ("customer", "caller_id", "called"):
        return kind, given[0][1] or "", given[0][0]
    raise InputError(
        f"--{kind.replace('_', '-')} needs one of --customer, --caller-id, --called, or --each"
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    all_: Annotated[bool, typer.Option("--all", help="Also removed rules.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the rules (in force and future; with --all also removed ones)."""
    from tracehop.screening.state import load_rules
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        rules = load_rules(store, include_removed=all_)
    _print_rules(rules, as_json, "list")


@app.command()
def remove(
    ctx: typer.Context,
    rule_id: Annotated[int, typer.Argument(metavar="ID", help="The rule's id.")],
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a rule (kept in the history with who removed it and when)."""
    from tracehop.screening.state import remove_rule
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        rule = remove_rule(store, rule_id, by=_author(author))
    _print_rules([rule], as_json, "removed")


@app.command()
def mode(
    ctx: typer.Context,
    rule_id: Annotated[int, typer.Argument(metavar="ID", help="The rule's id.")],
    new_mode: Annotated[str, typer.Argument(metavar="MODE", help="enforce or monitor.")],
    as_json: JsonOpt = False,
) -> None:
    """Switch a rule between monitor and enforce."""
    from tracehop.screening.state import set_mode
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        rule = set_mode(store, rule_id, new_mode)
    _print_rules([rule], as_json, "switched")


@app.command("from-finding")
def from_finding(
    ctx: typer.Context,
    finding_id: Annotated[
        str,
        typer.Argument(
            metavar="FINDING_ID",
            help="RUN_ID:SEQ (SEQ: the finding's place in tracehop detect --json, from 0), or "
            "RUN_ID alone for every flagged customer and caller ID of the run.",
        ),
    ],
    sip_code: SipOpt = None,
    mode: ModeOpt = "enforce",
    expires: ExpiresOpt = None,
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Turn a detection finding into rules: a flagged customer or caller ID is blocked; a
    campaign blocks each of its customers. The rules link to the finding."""
    from tracehop.screening.service import emergency_of
    from tracehop.screening.state import add_rules, rules_from_finding
    from tracehop.store import open_store
    from tracehop.times import SYSTEM

    settings: Settings = ctx.obj
    with open_store(settings) as store:
        rules = rules_from_finding(
            store,
            finding_id,
            emergency=emergency_of(settings),
            author=_author(author),
            mode=mode,
            sip_code=sip_code,
            expires_at=parse_when(expires, "--expires", SYSTEM.now()),
        )
        stored = add_rules(store, rules)
    if as_json:
        emit_json([r.as_dict() for r in stored])
    else:
        _print_rules(stored, False, "added")


@app.command()
def notice(
    ctx: typer.Context,
    provider: Annotated[str, typer.Argument(help="The provider to be blocked.")],
    sent: Annotated[str, typer.Option(help="The date the notice was sent (YYYY-MM-DD).")],
    summary: Annotated[str, typer.Option(help="The brief summary of the basis, as sent.")],
    author: AuthorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the notice sent to the Commission before blocking a provider (47 CFR
    64.1200(k)(4)); a provider-wide block is refused without one."""
    from tracehop.screening.state import record_notice
    from tracehop.store import open_store

    try:
        sent_on = date.fromisoformat(sent.strip())
    except ValueError:
        raise InputError(f"--sent {sent!r} is not a date: use YYYY-MM-DD") from None
    with open_store(ctx.obj) as store:
        n = record_notice(store, provider, sent_on=sent_on, summary=summary, author=_author(author))
    if as_json:
        emit_json(n.as_dict())
    else:
        stdout_console().print(
            f"recorded notice {n.id}: {esc(n.provider)}, sent {n.sent_on} "
            f"(tracehop block add --provider {esc(n.provider)} ... may now block it)"
        )


@app.command()
def notices(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the notices to the Commission recorded before provider blocks."""
    from tracehop.screening.state import list_notices
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        found = list_notices(store)
    cols = ("id", "provider", "sent_on", "summary", "author", "recorded_at")
    if as_json:
        emit_json([n.as_dict() for n in found])
    else:
        emit_rows(cols, [tuple(n.as_dict()[c] for c in cols) for n in found], title="Notices")
