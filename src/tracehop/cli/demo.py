"""``tracehop demo``: the guided tour ``make demo`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, stdout_console
from tracehop.demo import run_demo


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        out: Annotated[Path, typer.Option(help="Folder for the demo home(s).")] = Path("demo-home"),
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Run the demo end to end and print what it found, with real figures."""
        console = stdout_console()
        report = run_demo(out, say=(lambda _s: None) if as_json else console.print)
        if as_json:
            emit_json({"home": report.home, **report.figures})
