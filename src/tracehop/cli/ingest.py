"""``tracehop ingest``: load CDR files into the lake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracehop.cdr.layouts import preset_names  # file names only: cheap to import
from tracehop.cli.output import emit_json, esc, stderr_console, stdout_console

if TYPE_CHECKING:
    from rich.console import Console

    from tracehop.cdr.ingest import FileResult

FORMAT_HELP = (
    "auto, or a shipped layout: "
    + ", ".join(preset_names())
    + " (auto tells them apart and says which it chose; see tracehop layouts list)"
)


def register(app: typer.Typer) -> None:
    @app.command()
    def ingest(
        ctx: typer.Context,
        paths: Annotated[list[str], typer.Argument(help="CDR files, folders or glob patterns.")],
        format: Annotated[str, typer.Option("--format", "-f", help=FORMAT_HELP)] = "auto",
        layout: Annotated[
            str | None,
            typer.Option(
                "--layout",
                help="A layout file (TOML) of your own for every file, instead of --format "
                "(docs/ingest.md: writing a layout).",
                show_default=False,
            ),
        ] = None,
        glob: Annotated[
            str | None,
            typer.Option(
                "--glob",
                help="In folders, take the files whose names match this pattern (e.g. "
                "'*.acc') instead of CDR-looking names (*.csv, Master.csv.1, *.gz, ...).",
                show_default=False,
            ),
        ] = None,
        max_line_size: Annotated[
            int,
            typer.Option(
                "--max-line-size",
                help="Longest line (bytes) read as a record; a longer one is rejected with "
                "its line number and the rest of the file loads.",
            ),
        ] = 1 << 20,
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
        """Ingest CDR files (any layout; gzip, bzip2, xz, zstd; Parquet) into the lake; bad
        rows go to rejects."""
        from tracehop.cdr.ingest import expand_paths
        from tracehop.cdr.ingest import ingest as ingest_files
        from tracehop.settings import Settings

        settings: Settings = ctx.obj
        if timezone:
            settings = settings.model_copy(update={"timezone": timezone})
            Settings.model_validate(settings.model_dump())
        files = expand_paths(paths, glob_pattern=glob)
        options = {
            "format": format,
            "layout": layout,
            "provider": provider,
            "glob_pattern": glob,
            "max_line_size": max_line_size,
        }
        show_bar = sys.stderr.isatty() and not as_json
        if show_bar:
            err = stderr_console()  # Rich only when it draws (import: 0.05 s)
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

                result = ingest_files(files, settings, progress=progress, **options)  # type: ignore[arg-type]
        else:
            result = ingest_files(files, settings, **options)  # type: ignore[arg-type]
        if as_json:
            emit_json(result.to_dict())
            return
        out = stdout_console()
        _print_files(out, result.files)
        rate = result.rows_ingested / result.seconds if result.seconds else 0.0
        files = f"{len(result.files)} file{'' if len(result.files) == 1 else 's'}"
        skipped = f"{result.files_skipped} file{'' if result.files_skipped == 1 else 's'}"
        out.print(
            f"{files}, {result.rows_ingested:,} row{'' if result.rows_ingested == 1 else 's'} "
            "ingested, "
            f"{result.rows_rejected:,} rejected, {skipped} skipped "
            f"in {result.seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if result.rows_rejected:
            out.print(
                "See the rejected rows with: tracehop query "
                '"select source_file, source_line, reason from rejects"'
            )


def _print_files(out: Console, files: list[FileResult]) -> None:
    """One line per file: what was stored, rejected, skipped, merged or already there."""
    for f in files:
        if f.status == "skipped":
            out.print(f"[yellow]skipped[/] {esc(f.path)}: {esc(f.message)}")
        else:
            other = "".join(
                f", {n:,} {what}"
                for n, what in (
                    (f.rows_skipped, "skipped"),
                    (f.rows_merged, "merged"),
                    (f.rows_duplicate, "already stored"),
                )
                if n
            )
            out.print(
                f"[green]ingested[/] {esc(f.path)}: {f.rows_ingested:,} "
                f"row{'' if f.rows_ingested == 1 else 's'}, "
                f"{f.rows_rejected:,} rejected{other}; {esc(f.message)}"
            )
