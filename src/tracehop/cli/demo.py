"""``tracehop demo``: the guided tour ``make demo`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, stdout_console

# = tracehop.demo.DEMO_SCALE / DEMO_DAYS (tests/test_cli.py checks): written here so that the
# CLI starts without importing the demo and everything it uses.
DEMO_SCALE = 0.25
DEMO_DAYS = 2


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        out: Annotated[
            Path, typer.Option(help="Folder for the simulated world and the providers' homes.")
        ] = Path("demo-home"),
        seed: Annotated[int, typer.Option(help="Random seed of the simulated world.")] = 1,
        scale: Annotated[float, typer.Option(help="Size of the world (simulate --scale).")] = (
            DEMO_SCALE
        ),
        days: Annotated[int, typer.Option(help="Days of traffic.")] = DEMO_DAYS,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Simulate a network, load every provider's home, trace the complaints hop by hop,
        and print what happened, with real figures."""
        from tracehop.demo import run_demo

        console = stdout_console()
        report = run_demo(
            out,
            seed=seed,
            scale=scale,
            days=days,
            say=(lambda _s: None) if as_json else console.print,
        )
        if as_json:
            emit_json({"home": report.home, **report.figures})
