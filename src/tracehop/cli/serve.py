"""``tracehop serve``: run this home as a traceback node (the API), and its tokens."""

from __future__ import annotations

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
            str | None,
            typer.Option(
                help="auto: answer at once; review: a person confirms first "
                "(default TRACEHOP_NODE_MODE, auto).",
                show_default=False,
            ),
        ] = None,
        rate: Annotated[
            float | None,
            typer.Option(
                help="Requests a second per token (default TRACEHOP_NODE_RATE, 50).",
                show_default=False,
            ),
        ] = None,
        provider: Annotated[
            str | None,
            typer.Option(
                help="This provider's id (default TRACEHOP_PROVIDER).", show_default=False
            ),
        ] = None,
    ) -> None:
        """Run the node API: POST /api/v1/tracebacks/requests (docs/traceback.md)."""
        from tracehop.api.node import create_node_app, node_service
        from tracehop.api.server import serve as serve_app
        from tracehop.node import tokens

        if directory is not None and not directory.is_file():
            raise ConfigError(f"no directory file at {directory}")
        # The options are settings (TRACEHOP_NODE_*): the app gets them as one object.
        settings: Settings = ctx.obj.replace(
            node_mode=mode, node_rate=rate, node_directory=directory, provider=provider
        )
        if not tokens.load(Path(settings.home)):
            stdout_console().print(
                "No API token issued yet: every request will get 401. Issue one with: "
                f"tracehop --home {settings.home} tokens issue hub"
            )
        app = create_node_app(node_service(settings))
        serve_app(app, host=host, port=port, settings=settings)

    app.add_typer(tokens_app, name="tokens")


@tokens_app.command("issue")
def issue(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Who gets the token (e.g. the hub's name).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Issue a token; it is shown once and only its hash is kept."""
    from tracehop.node import tokens

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
    from tracehop.node import tokens

    rows = [(r.name, r.created_at, r.revoked) for r in tokens.load(Path(ctx.obj.home))]
    emit_rows(["name", "created_at", "revoked"], rows, as_json=as_json, title="API tokens")


@tokens_app.command("revoke")
def revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from tracehop.node import tokens

    tokens.revoke(Path(ctx.obj.home), name)
    stdout_console().print(f"revoked {name}")
