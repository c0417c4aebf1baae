"""``tracehop simulate``: write a simulated network's CDRs, complaints and truth."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, stderr_console, stdout_console

# = tracehop.simulate.SCENARIOS (tests/test_cli.py checks): named here so that the CLI starts
# without importing the simulator; the simulator itself rejects an unknown name.
SCENARIOS = ("default", "quiet", "notice", "flood")


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_cmd(
        out: Annotated[Path, typer.Option(help="Folder to write the world into.")],
        seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 1,
        days: Annotated[int, typer.Option(help="Days of traffic.")] = 1,
        scale: Annotated[
            float, typer.Option(help="1 = a few hundred thousand calls a day in all.")
        ] = 1.0,
        scenario: Annotated[
            str, typer.Option(help="World and campaigns: " + ", ".join(SCENARIOS) + ".")
        ] = "default",
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    ) -> None:
        """Simulate providers, customers, legal traffic and robocall campaigns: each
        provider's CDR file, complaints and the ground truth (docs/simulator.md)."""
        from tracehop.simulate import simulate

        if sys.stderr.isatty() and not as_json:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("[bold]simulate"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} slices"),
                TimeElapsedColumn(),
                console=stderr_console(),
                transient=True,
            ) as bar:
                task = bar.add_task("simulate", total=None)
                result = simulate(
                    out,
                    seed=seed,
                    days=days,
                    scale=scale,
                    scenario=scenario,
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        else:
            result = simulate(out, seed=seed, days=days, scale=scale, scenario=scenario)
        if as_json:
            emit_json(result.to_dict())
            return
        console = stdout_console()
        formats = sorted({str(f["format"]) for f in result.cdr_files.values()})
        console.print(
            f"Simulated {result.calls:,} calls ({result.cdr_rows:,} CDR rows) over "
            f"{result.days} day(s) from {result.start} through {result.providers} providers "
            f"({', '.join(formats)}); {result.complaints} complaints; seed {result.seed}, "
            f"scale {result.scale:g}, scenario {result.scenario}, in {result.seconds:.1f} s."
        )
        for kind, n in result.campaign_calls.items():
            console.print(f"  campaign {kind}: {n:,} calls")
        console.print(
            f"Files in {out}: directory.csv, number_blocks.csv, cdrs/, customers/, "
            "complaints.csv, shaken/ (the world's test CA and certificates), truth/"
        )
        console.print(
            f"Load one provider: tracehop --home HOME customers import {out}/customers/"
            f"<provider>.csv, then with TRACEHOP_SHAKEN_TRUST={out}/shaken/root.pem and "
            f"TRACEHOP_SHAKEN_CERTS=https://certs.sim.example/={out}/shaken/certs (to verify "
            f"the Identity headers): tracehop --home HOME ingest {out}/cdrs/<provider>.csv "
            "--provider <provider>"
        )
