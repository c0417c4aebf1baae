"""``tracehop evaluate``: measure detection against a simulated world's truth
(docs/detection.md, "Calibration and evaluation" and "Detection delay")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracehop.cli.output import emit_json, stdout_console

app = typer.Typer(
    help="Measure detection on simulated worlds: recall, false alarms, delay.",
    no_args_is_help=True,
)


@app.command("detection")
def detection_cmd(
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 30-39 or 1,4,7-9.")] = "30",
    scenarios: Annotated[str, typer.Option(help="Comma-separated scenario names.")] = "default",
    scale: Annotated[
        float | None,
        typer.Option(
            help="Simulator scale of each world (default 0.05; with --families 1).",
            show_default=False,
        ),
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            help="Days of traffic per world (default 1; with --families each family's own).",
            show_default=False,
        ),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep (and reuse) the worlds here (default: a temporary folder)."),
    ] = None,
    jobs: Annotated[int, typer.Option(help="Worlds evaluated at once (processes).")] = 1,
    min_calls: Annotated[
        int, typer.Option(help="Customers with fewer attempts are listed but not scored.")
    ] = 30,
    families: Annotated[
        str | None,
        typer.Option(
            help="Judge on the second generator's families instead of the scenarios: all, "
            "tuning, evaluation or family names (docs/simulator.md, Families). --days defaults "
            "to each family's own; --scale 1 is each family's real size.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Detection recall and false alarms on simulated worlds, one per seed and scenario
    (every customer finding at every provider judged against the truth); with --families,
    recall, false alarms and category accuracy per family, tuning and evaluation apart."""
    import time

    from tracehop.detection.evaluate import (
        evaluate,
        parse_scenarios,
        parse_seeds,
        report,
        summary,
    )

    if families is not None:
        _families(families, seeds, days, scale, workdir, jobs, as_json)
        return
    seed_list, names = parse_seeds(seeds), parse_scenarios(scenarios)
    started = time.perf_counter()
    results = evaluate(
        seed_list,
        names,
        scale=0.05 if scale is None else scale,
        days=days or 1,
        workdir=workdir,
        jobs=jobs,
        min_calls=min_calls,
    )
    wall = round(time.perf_counter() - started, 1)
    if as_json:
        emit_json(summary(results, wall))
        return
    console = stdout_console()
    console.print(report(results), markup=False, highlight=False, emoji=False)
    console.print(f"\n{len(results)} worlds in {wall} s (wall).", highlight=False)


@app.command("delay")
def delay_cmd(
    world: Annotated[Path, typer.Argument(help="A folder written by tracehop simulate.")],
    homes: Annotated[
        Path | None,
        typer.Option(help="Homes per entry provider, kept and reused (default: temporary)."),
    ] = None,
    step: Annotated[float, typer.Option(help="Window growth, minutes.")] = 15.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Detection delay per campaign of a simulated world: minutes of traffic and attempts
    until its entry customer is first flagged."""
    from datetime import timedelta

    from tracehop.detection.delay import table, world_delays

    delays = world_delays(world, homes, step=timedelta(minutes=step))
    if as_json:
        emit_json([d.as_dict() for d in delays])
        return
    stdout_console().print(table(delays), markup=False, highlight=False, emoji=False)


def _families(
    families: str,
    seeds: str,
    days: int | None,
    scale: float | None,
    workdir: Path | None,
    jobs: int,
    as_json: bool,
) -> None:
    """``evaluate detection --families``: the families table (docs/detection.md)."""
    import time

    from tracehop.detection.evalfamilies import (
        evaluate_families,
        families_report,
        families_summary,
        parse_families,
    )
    from tracehop.detection.evaluate import parse_seeds

    names, seed_list = parse_families(families), parse_seeds(seeds)
    started = time.perf_counter()
    results = evaluate_families(
        names,
        seed_list,
        days=days,
        scale=1.0 if scale is None else scale,
        workdir=workdir,
        jobs=jobs,
    )
    wall = round(time.perf_counter() - started, 1)
    if as_json:
        emit_json(families_summary(results, wall))
        return
    console = stdout_console()
    console.print(families_report(results), markup=False, highlight=False, emoji=False)
    console.print(f"\n{len(results)} worlds in {wall} s (wall).", highlight=False)
