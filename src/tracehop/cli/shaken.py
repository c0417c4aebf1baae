"""``tracehop shaken``: sign and verify STIR/SHAKEN Identity headers, the test CA, the
certificate cache (docs/shaken.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from tracehop.cli.output import clean, emit_json, emit_rows, esc, stdout_console

if TYPE_CHECKING:
    from tracehop.shaken.result import VerifyResult

app = typer.Typer(help="STIR/SHAKEN: sign and verify Identity headers, a test CA, the cache.")
ca_app = typer.Typer(help="A test certificate authority (root, intermediate, providers).")
cache_app = typer.Typer(help="The certificate cache in the home (shared by all processes).")
app.add_typer(ca_app, name="ca")
app.add_typer(cache_app, name="cache")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@app.command("sign")
def sign_(
    orig: Annotated[str, typer.Option("--orig", help="Calling number (any form; canonicalised).")],
    dest: Annotated[str, typer.Option("--dest", help="Called number.")],
    attest: Annotated[str, typer.Option("--attest", help="Attestation: A, B or C.")],
    key: Annotated[Path, typer.Option("--key", help="The signing key (PEM, EC P-256).")],
    x5u: Annotated[str, typer.Option("--x5u", help="URL where the certificate chain is served.")],
    origid: Annotated[
        str | None,
        typer.Option(
            "--origid", help="Origination id (a UUID; default: a new one).", show_default=False
        ),
    ] = None,
    iat: Annotated[
        int | None,
        typer.Option(
            "--iat", help="Signing time, Unix seconds (default: now).", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a signed Identity header (PASSporT, SHAKEN) for one call."""
    from tracehop.shaken.passport import load_private_key, sign

    header = sign(
        orig=orig,
        dest=dest,
        attest=attest.upper(),
        key=load_private_key(key),
        x5u=x5u,
        origid=origid,
        iat=iat,
    )
    if as_json:
        emit_json({"identity": header})
    else:
        typer.echo(clean(header))


def _print_result(result: VerifyResult) -> None:
    out = stdout_console()
    if result.valid:
        signer = result.signer or {}
        out.print(
            f"valid: attest {esc(result.attest)}, orig {esc(result.orig)}, "
            f"dest {esc(', '.join(result.dest))}, origid {esc(result.origid)}, "
            f"signer SPC {esc(result.spc or '-')} ({esc(signer.get('subject', ''))})"
        )
        return
    out.print(
        f"invalid: {esc(result.reason)} ({result.sip_code} {esc(result.sip_reason)}): "
        f"{esc(result.detail)}"
    )


@app.command("verify")
def verify_(
    ctx: typer.Context,
    identity: Annotated[
        str, typer.Option("--identity", help="The Identity header value (- reads it from stdin).")
    ],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="The SIP From number, checked against orig.", show_default=False
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The SIP To number, checked against dest.", show_default=False),
    ] = None,
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust",
            help="Trust anchors: a PEM file or folder. Env: TRACEHOP_SHAKEN_TRUST.",
            show_default=False,
        ),
    ] = None,
    max_age: Annotated[
        str | None,
        typer.Option(
            "--max-age",
            help="Freshness of iat: 60, 60s, 2m (default TRACEHOP_SHAKEN_MAX_AGE, 60 s).",
            show_default=False,
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="Judge as of this time (ISO 8601, UTC unless zoned); default now.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify an Identity header: exit 0 when valid, 1 when not (the reason and its SIP
    code are printed)."""
    from tracehop.cli.detect import parse_time
    from tracehop.settings import ensure_home
    from tracehop.shaken.verify import Verifier
    from tracehop.times import parse_duration

    value = sys.stdin.read() if identity == "-" else identity
    seconds = None if max_age is None else parse_duration(max_age, what="--max-age")
    when = parse_time(at, "--at")
    ensure_home(ctx.obj.home)
    with Verifier.from_settings(ctx.obj, trust=trust, max_age=seconds) as verifier:
        result = verifier.verify(value, orig=from_, dest=to, at=when)
    if as_json:
        emit_json(result.to_json())
    else:
        _print_result(result)
    if not result.valid:
        raise typer.Exit(1)


def _provider_spec(spec: str) -> tuple[str, str]:
    from tracehop.errors import InputError

    name, sep, spc = spec.partition("=")
    if not sep or not name or not spc:
        raise InputError(f"--provider {spec!r}: use NAME=SPC, e.g. acme=1234")
    return name, spc


@ca_app.command("init")
def ca_init(
    directory: Annotated[Path, typer.Argument(help="Folder for the CA (created).")],
    provider: Annotated[
        list[str] | None,
        typer.Option(
            "--provider",
            help="NAME=SPC: issue a provider certificate (repeatable; default test=1234).",
            show_default=False,
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="Validity of the certificates.")] = 365,
    as_json: JsonOpt = False,
) -> None:
    """Create a test CA (root, intermediate) and provider certificates with TNAuthList.
    Serve DIR/certs over HTTP as the x5u location; trust DIR/root.pem."""
    from tracehop.shaken.ca import TestCA

    specs = [_provider_spec(p) for p in provider or ["test=1234"]]
    ca = TestCA.create(directory, days=max(days, 3650))
    issued = [ca.issue(name, spc, days=days) for name, spc in specs]
    if as_json:
        emit_json({"root": str(ca.root_path), "providers": [p.to_json() for p in issued]})
        return
    out = stdout_console()
    out.print(f"test CA in {esc(directory)}: trust {esc(ca.root_path)}")
    for p in issued:
        out.print(
            f"  {esc(p.name)} (SPC {esc(p.spc)}): serve {esc(p.chain_path)}, key {esc(p.key_path)}"
        )


@ca_app.command("issue")
def ca_issue(
    directory: Annotated[Path, typer.Argument(help="The CA folder (tracehop shaken ca init).")],
    name: Annotated[str, typer.Argument(help="Provider name (file names).")],
    spc: Annotated[str, typer.Argument(help="Its Service Provider Code (OCN), e.g. 1234.")],
    days: Annotated[int, typer.Option("--days", min=1, help="Validity of the certificate.")] = 365,
    as_json: JsonOpt = False,
) -> None:
    """Issue (or replace) one provider certificate from a test CA."""
    from tracehop.shaken.ca import TestCA

    issued = TestCA.load(directory).issue(name, spc, days=days)
    if as_json:
        emit_json(issued.to_json())
    else:
        stdout_console().print(
            f"{esc(issued.name)} (SPC {esc(issued.spc)}): serve {esc(issued.chain_path)}, "
            f"key {esc(issued.key_path)}"
        )


@cache_app.command("list")
def cache_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The certificates (and remembered failures) in the home's cache."""
    from tracehop.shaken.cache import CertCache
    from tracehop.shaken.verify import CACHE_FOLDER

    rows = CertCache(ctx.obj.home / CACHE_FOLDER, fetcher=_no_fetch).entries()
    columns = ["url", "ok", "reason", "fetched_at", "expires_at", "expired"]
    if as_json:
        emit_json(rows)
        return
    emit_rows(columns, [[r[c] for c in columns] for r in rows], title="Certificate cache")


@cache_app.command("prune")
def cache_prune(
    ctx: typer.Context,
    everything: Annotated[
        bool, typer.Option("--all", help="Delete every entry, not only expired ones.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete expired entries (or all) from the home's certificate cache."""
    from tracehop.shaken.cache import CertCache
    from tracehop.shaken.verify import CACHE_FOLDER

    deleted = CertCache(ctx.obj.home / CACHE_FOLDER, fetcher=_no_fetch).prune(everything=everything)
    if as_json:
        emit_json({"deleted": deleted})
    else:
        stdout_console().print(f"{deleted} cache entries deleted")


def _no_fetch(url: str) -> NoReturn:  # the cache commands only read the disk
    raise AssertionError(f"no fetch expected: {url}")
