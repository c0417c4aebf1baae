"""``tracehop serve``: run this home as a traceback node (the API), and its tokens."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import emit_json, emit_rows, stdout_console
from tracehop.errors import ConfigError

if TYPE_CHECKING:
    from tracehop.settings import Settings

tokens_app = typer.Typer(help="Issue, list and revoke the API tokens of this node.")


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.")] = 8470,
        directory: Annotated[
            Path | None,
            typer.Option(
                help="Consortium directory CSV: carriers not in it are answered "
                "provider_not_listed.",
                show_default=False,
            ),
        ] = None,
        mode: Annotated[
            str, typer.Option(help="auto: answer at once; review: a person confirms first.")
        ] = "auto",
        rate: Annotated[float, typer.Option(help="Requests a second per token.")] = 50.0,
        provider: Annotated[
            str | None,
            typer.Option(
                help="This provider's id (default TRACEHOP_PROVIDER).", show_default=False
            ),
        ] = None,
    ) -> None:
        """Run the node API: POST /api/v1/tracebacks/requests (docs/traceback.md)."""
        import uvicorn

        from tracehop.api import tokens

        settings: Settings = ctx.obj
        if mode not in ("auto", "review"):
            raise ConfigError(f"--mode must be auto or review, not {mode!r}")
        if directory is not None and not directory.is_file():
            raise ConfigError(f"no directory file at {directory}")
        env = {
            "TRACEHOP_HOME": str(settings.home),
            "TRACEHOP_NODE_MODE": mode,
            "TRACEHOP_NODE_RATE": str(rate),
            "TRACEHOP_PROVIDER": provider or settings.provider,
        }
        if settings.database_url:
            env["TRACEHOP_DATABASE_URL"] = settings.database_url
        if directory is not None:
            env["TRACEHOP_NODE_DIRECTORY"] = str(directory)
        os.environ.update(env)
        if not tokens.load(Path(settings.home)):
            stdout_console().print(
                "No API token issued yet: every request will get 401. Issue one with: "
                f"tracehop --home {settings.home} tokens issue hub"
            )
        uvicorn.run(
            "tracehop.api:app_from_env", factory=True, host=host, port=port, log_level="warning"
        )

    app.add_typer(tokens_app, name="tokens")


@tokens_app.command("issue")
def issue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who gets the token (e.g. the hub's name).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Issue a token; it is shown once and only its hash is kept."""
    from tracehop.api import tokens

    token = tokens.issue(Path(ctx.obj.home), name)
    if as_json:
        emit_json({"name": name, "token": token})
    else:
        stdout_console().print(f"Token for {name} (shown once, keep it safe):\n{token}")


@tokens_app.command("list")
def list_(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List tokens (names and dates, never the secrets)."""
    from tracehop.api import tokens

    rows = [(r.name, r.created_at, r.revoked) for r in tokens.load(Path(ctx.obj.home))]
    emit_rows(["name", "created_at", "revoked"], rows, as_json=as_json, title="API tokens")


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from tracehop.api import tokens

    tokens.revoke(Path(ctx.obj.home), name)
    stdout_console().print(f"revoked {name}")
