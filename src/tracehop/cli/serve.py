"""``tracehop serve``: run this home as a traceback node (the API)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cli.output import stdout_console
from tracehop.errors import ConfigError

if TYPE_CHECKING:
    from tracehop.settings import Settings


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8470,
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
        from tracehop.api.app import create_app
        from tracehop.api.server import bind
        from tracehop.api.server import serve as serve_app
        from tracehop.auth import tokens
        from tracehop.store import open_store

        if directory is not None and not directory.is_file():
            raise ConfigError(f"no directory file at {directory}")
        # The options are settings (TRACEHOP_NODE_*): the app gets them as one object.
        settings: Settings = ctx.obj.replace(
            node_mode=mode, node_rate=rate, node_directory=directory, provider=provider
        )
        with open_store(settings) as store:
            tokens.migrate_file_tokens(store, Path(settings.home))
            issued = tokens.list_tokens(store)
        sock = bind(host, port)  # a port in use is a one-line error before anything starts
        out = stdout_console()
        if not any(t["role"] == "hub" and not t["revoked"] for t in issued):
            out.print(
                "No hub token issued yet: the hub's traceback requests will get 401. Issue "
                f"one with: tracehop --home {settings.home} tokens issue hub"
            )
        app = create_app(settings)
        out.print(
            f"{settings.provider}'s node on http://{host}:{port}/ (the dashboard; the API under "
            "/api/v1, docs/api.md). Ctrl-C stops it."
        )
        serve_app(app, host=host, port=port, settings=settings, sock=sock)
