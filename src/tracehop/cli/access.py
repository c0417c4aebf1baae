"""``tracehop tokens`` and ``tracehop users``: who may use this home's API and dashboard,
with which role (admin, analyst, viewer, hub, screen: docs/api.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, emit_rows, esc, stdout_console
from tracehop.errors import ConfigError

tokens_app = typer.Typer(help="API tokens for machines (the hub, a switch, scripts), by role.")
users_app = typer.Typer(help="People who use the dashboard, by role.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
RoleOpt = Annotated[str, typer.Option("--role", help="admin, analyst, viewer, hub or screen.")]


@tokens_app.command("issue")
def issue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who gets the token (e.g. the hub's name).")],
    role: RoleOpt = "hub",
    as_json: JsonOpt = False,
) -> None:
    """Issue a token; it is shown once and only its hash is kept."""
    from tracehop.auth import tokens
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        tokens.migrate_file_tokens(store, Path(ctx.obj.home))
        token = tokens.issue(store, name, role)
    if as_json:
        emit_json({"name": name, "role": role, "token": token})
    else:
        stdout_console().print(f"Token for {esc(name)} ({role}; shown once, keep it safe):")
        sys.stdout.write(token + "\n")


@tokens_app.command("list")
def list_tokens(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List tokens (names, roles and dates, never the secrets)."""
    from tracehop.auth import tokens
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        tokens.migrate_file_tokens(store, Path(ctx.obj.home))
        rows = tokens.list_tokens(store)
    cols = ["id", "name", "role", "created_at", "revoked"]
    emit_rows(cols, [[r[c] for c in cols] for r in rows], as_json=as_json, title="API tokens")


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name or id.")]
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from tracehop.auth import tokens
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        n = tokens.revoke(store, name)
    stdout_console().print(f"revoked {esc(name)} ({n} token{'s' if n > 1 else ''})")


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user's login name.")],
    role: RoleOpt = "analyst",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a dashboard user (the password is asked for, or read from standard input)."""
    from tracehop.auth.users import add_user as add
    from tracehop.store import open_store

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not sys.stdin.isatty():
        # a piped password would be read as the first of two prompts: "Aborted." at the second
        raise ConfigError(
            "standard input is not a terminal: give the password with --password-stdin "
            "(echo PASSWORD | tracehop users add NAME --password-stdin)"
        )
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with open_store(ctx.obj) as store:
        add(store, name, role, password)
    stdout_console().print(f"added {esc(name)} ({role})")


@users_app.command("list")
def list_users(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the dashboard's users."""
    from tracehop.auth.users import list_users as users
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        rows = users(store)
    cols = ["name", "role", "created_at", "disabled"]
    emit_rows(cols, [[r[c] for c in cols] for r in rows], as_json=as_json, title="Users")


@users_app.command("remove")
def remove_user(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The user's login name.")]
) -> None:
    """Remove a dashboard user."""
    from tracehop.auth.users import remove_user as remove
    from tracehop.store import open_store

    with open_store(ctx.obj) as store:
        remove(store, name)
    stdout_console().print(f"removed {esc(name)}")
