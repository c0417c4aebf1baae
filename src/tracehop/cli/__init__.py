"""The ``tracehop`` command: a thin Typer shell over the library.

Each command builds the settings, calls one library function and prints its result with
``output.py``. Library errors become ``Error: ...`` on stderr and exit code 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from tracehop.errors import TracehopError

app = typer.Typer(
    name="tracehop",
    help="Trace, detect and stop illegal robocalls: a provider's CDR lake and traceback tools.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Data folder (lake and state DB). Env: TRACEHOP_HOME.", show_default=False
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="State DB URL. Env: TRACEHOP_DATABASE_URL.", show_default=False),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR.", show_default=False)
    ] = None,
) -> None:
    from tracehop.settings import load_settings

    settings = load_settings(home=home, database_url=database_url, log_level=log_level)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = settings


_registered = False


def _register() -> None:
    """Add the commands (once: tests and docgen call this repeatedly in one process)."""
    global _registered
    if _registered:
        return
    _registered = True
    from tracehop.cli import (
        complaints,
        customers,
        demo,
        detect,
        evaluate,
        hub,
        ingest,
        query,
        serve,
        simulate,
        trace,
    )

    ingest.register(app)
    query.register(app)
    app.add_typer(customers.app, name="customers")
    app.add_typer(complaints.app, name="complaints")
    demo.register(app)
    simulate.register(app)
    app.add_typer(trace.app, name="trace")
    serve.register(app)
    app.add_typer(hub.app, name="hub")
    detect.register(app)
    app.add_typer(evaluate.app, name="evaluate")


def main() -> None:
    """Console entry point."""
    _register()
    try:
        app()
    except TracehopError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
