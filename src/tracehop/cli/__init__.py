"""The ``tracehop`` command: a thin Typer shell over the library.

Each command builds the settings, calls one library function and prints its result with
``output.py``. Library errors become ``Error: ...`` on stderr and exit code 1, in one place:
:class:`TracehopGroup`, the root command group, so a test that invokes ``app`` in-process
sees exactly what a user sees.

Starting fast: this package imports only Typer and the standard library up front; each command
imports the library modules it uses (DuckDB, SQLAlchemy, FastAPI, ...) when it runs, so
``tracehop --help`` and a small command do not pay for the others (docs/performance.md).
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tracehop.errors import ConfigError, TracehopError


def error_message(exc: BaseException) -> str | None:
    """The one-line message the CLI shows for a library error, or None for a bug (a traceback
    is then the useful thing to show)."""
    if isinstance(exc, TracehopError):
        return exc.message
    # Settings or a model built from options the user gave: name the setting and the fix.
    pydantic_core = sys.modules.get("pydantic_core")  # not loaded: it cannot be one of its errors
    if pydantic_core is not None and isinstance(exc, pydantic_core.ValidationError):
        from tracehop.settings import _first_error

        return _first_error(exc)
    return None


class TracehopGroup(TyperGroup):
    """The root group: turns library errors into ``Error: <message>`` on stderr, exit 1, and
    Ctrl-C into ``Interrupted.``, exit 130 (130 = 128 + SIGINT, what shells report)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            typer.echo("Interrupted.", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            message = error_message(exc)
            if message is None:
                raise
            from tracehop.cli.output import clean  # a message may quote data: shown literally

            typer.echo(f"Error: {clean(message)}", err=True)
            raise typer.Exit(1) from exc


app = typer.Typer(
    cls=TracehopGroup,
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

    # Everything this process creates is owner-only: homes hold call records (CPNI), keys
    # and tokens (docs/security.md).
    os.umask(0o077)
    settings = load_settings(home=home, database_url=database_url, log_level=log_level)
    if settings.log_level.upper() not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"unknown log level {settings.log_level!r}: use DEBUG, INFO, WARNING or ERROR "
            "(--log-level or TRACEHOP_LOG_LEVEL)"
        )
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
        access,
        block,
        cases,
        complaints,
        customers,
        demo,
        detect,
        dno,
        evaluate,
        hub,
        ingest,
        lake,
        layouts,
        query,
        screen,
        serve,
        shaken,
        simulate,
        trace,
    )

    ingest.register(app)
    app.add_typer(lake.app, name="lake")
    app.add_typer(layouts.app, name="layouts")
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
    app.add_typer(access.tokens_app, name="tokens")
    app.add_typer(access.users_app, name="users")
    app.add_typer(cases.notice_app, name="notice")
    app.add_typer(cases.case_app, name="case")
    app.add_typer(cases.rmd_app, name="rmd")
    app.add_typer(shaken.app, name="shaken")
    app.add_typer(block.app, name="block")
    app.add_typer(screen.app, name="screen")
    app.add_typer(dno.app, name="dno")


def main() -> None:
    """Console entry point (errors are handled by :class:`TracehopGroup`)."""
    _register()
    try:
        app()
    finally:
        # Leave at once: the interpreter's last garbage collections walk every object that
        # DuckDB, SQLAlchemy and pydantic made (~0.1 s, docs/performance.md). Frozen objects
        # are freed as usual when their modules are cleared; only cycles still alive at exit
        # are left to the OS, whose finalisers Python never promises to run at exit anyway.
        gc.freeze()
