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


def _one_line_summaries(command: Any) -> Any:
    """Give ``command`` and, for a group, each of its commands the first paragraph of its
    help as one line: the commands panel of ``--help`` (Typer's rich mode) otherwise breaks
    the summary where the docstring's source line ended."""
    commands = getattr(command, "commands", {})
    for sub in (command, *commands.values()):
        if not sub.short_help and sub.help:
            sub.short_help = " ".join(sub.help.strip().split("\n\n")[0].split())
    return command


class TracehopGroup(TyperGroup):
    """The root group: turns library errors into ``Error: <message>`` on stderr, exit 1, and
    Ctrl-C into ``Interrupted.``, exit 130 (130 = 128 + SIGINT, what shells report)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        return None if command is None else _one_line_summaries(command)

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


# Each command (or group) of the root, in the order --help lists them: its module and the
# name of the attribute that adds it (a ``register(app)`` function) or is it (a Typer app).
COMMANDS: dict[str, tuple[str, str]] = {
    "ingest": ("ingest", "register"),
    "lake": ("lake", "app"),
    "layouts": ("layouts", "app"),
    "query": ("query", "register"),
    "customers": ("customers", "app"),
    "complaints": ("complaints", "app"),
    "demo": ("demo", "register"),
    "simulate": ("simulate", "register"),
    "trace": ("trace", "app"),
    "serve": ("serve", "register"),
    "hub": ("hub", "app"),
    "detect": ("detect", "register"),
    "evaluate": ("evaluate", "app"),
    "tokens": ("access", "tokens_app"),
    "users": ("access", "users_app"),
    "notice": ("cases", "notice_app"),
    "case": ("cases", "case_app"),
    "rmd": ("cases", "rmd_app"),
    "shaken": ("shaken", "app"),
    "block": ("block", "app"),
    "screen": ("screen", "app"),
    "dno": ("dno", "app"),
}
_registered: set[str] = set()


def _register(only: str | None = None) -> None:
    """Add the commands (each once: tests and docgen call this repeatedly in one process).

    ``only``: just that command, for a process that runs it (``main``): importing every
    command module and building Click's view of every command cost about 0.1 CPU-s of a
    short command's start (docs/performance.md, issue 11)."""
    import importlib

    names = [only] if only in COMMANDS else list(COMMANDS)
    if only in COMMANDS and _registered and only not in _registered:
        names = list(COMMANDS)  # keep --help's order: add the rest too
    for name in names:
        if name in _registered:
            continue
        module_name, attr = COMMANDS[name]
        module = importlib.import_module(f"tracehop.cli.{module_name}")
        target = getattr(module, attr)
        if attr == "register":
            target(app)
        else:
            app.add_typer(target, name=name)
        _registered.add(name)


# Root options that take a value (``--home DIR``): the command is the first other word.
_VALUED = ("--home", "--database-url", "--log-level")


def command_named(argv: list[str]) -> str | None:
    """The command a command line runs (``tracehop --home H ingest F`` -> ``ingest``), or None
    when it asks for help or names none (then every command is registered)."""
    args = iter(argv)
    for arg in args:
        if arg in ("--help", "-h"):
            return None
        if arg in _VALUED:
            next(args, None)
        elif arg.startswith("-"):
            continue
        else:
            return arg if arg in COMMANDS else None
    return None


def main() -> None:
    """Console entry point (errors are handled by :class:`TracehopGroup`)."""
    # A command's start allocates hundreds of thousands of long-lived objects (modules,
    # classes, pydantic and Typer models) and little garbage: with the default threshold (700)
    # the collector ran about 130 times during a short ingest, 0.05 CPU-s of its 0.5 s
    # (docs/performance.md, issue 11). A larger first generation still collects, less often.
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    _register(only=command_named(sys.argv[1:]))
    try:
        app()
    finally:
        # Leave at once: the interpreter's last garbage collections walk every object that
        # DuckDB, SQLAlchemy and pydantic made (~0.1 s, docs/performance.md). Frozen objects
        # are freed as usual when their modules are cleared; only cycles still alive at exit
        # are left to the OS, whose finalisers Python never promises to run at exit anyway.
        gc.freeze()
