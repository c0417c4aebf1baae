"""``tracehop ingest``: load CDR files into the lake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tracehop.cdr.formats import PRESETS  # data only: cheap to import
from tracehop.cli.output import emit_json, esc, stderr_console, stdout_console

FORMAT_HELP = "auto, " + ", ".join(PRESETS) + " (auto tells them apart and says which it chose)"


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        ctx: typer.Context,
        paths: Annotated[list[str], typer.Argument(help="CDR files, folders or glob patterns.")],
        format: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
        provider: Annotated[
            str | None,
            typer.Option(
                help="Whose CDRs these are (default: TRACEHOP_PROVIDER).", show_default=False
            ),
        ] = None,
        timezone: Annotated[
            str | None,
            typer.Option(
                "--timezone",
                help="Zone of naive timestamps, e.g. America/New_York (default UTC).",
                show_default=False,
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Ingest CDR files (CSV, gzip or Parquet) into the lake; bad rows go to rejects."""
        from tracehop.cdr.ingest import expand_paths
        from tracehop.cdr.ingest import ingest as ingest_files
        from tracehop.settings import Settings

        settings: Settings = ctx.obj
        if timezone:
            settings = settings.model_copy(update={"timezone": timezone})
            Settings.model_validate(settings.model_dump())
        files = expand_paths(paths)
        err = stderr_console()
        show_bar = sys.stderr.isatty() and not as_json
        if show_bar:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} files"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("ingest", total=len(files))
                done: set[Path] = set()

                def progress(step: str, path: Path) -> None:
                    if step == "checksum" and done:
                        bar.advance(task)
                    done.add(path)
                    bar.update(task, description=f"{path.name}: {step}")

                result = ingest_files(
                    files, settings, format=format, provider=provider, progress=progress
                )
        else:
            result = ingest_files(files, settings, format=format, provider=provider)
        if as_json:
            emit_json(result.to_dict())
            return
        out = stdout_console()
        for f in result.files:
            if f.status == "skipped":
                out.print(f"[yellow]skipped[/] {esc(f.path)}: {esc(f.message)}")
            else:
                out.print(
                    f"[green]ingested[/] {esc(f.path)} ({f.format}): {f.rows_ingested:,} rows, "
                    f"{f.rows_rejected:,} rejected"
                )
        rate = result.rows_ingested / result.seconds if result.seconds else 0.0
        out.print(
            f"{len(result.files)} files, {result.rows_ingested:,} rows ingested, "
            f"{result.rows_rejected:,} rejected, {result.files_skipped} skipped "
            f"in {result.seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if result.rows_rejected:
            out.print(
                "See the rejected rows with: tracehop query "
                '"select source_file, source_line, reason from rejects"'
            )
