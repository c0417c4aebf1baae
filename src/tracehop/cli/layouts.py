"""``tracehop layouts``: the CDR layouts tracehop reads (shipped presets and layout files)."""

from __future__ import annotations

from typing import Annotated

import typer

from tracehop.cli.output import emit_json, esc, stdout_console

app = typer.Typer(help="CDR layouts: the shipped presets, and how a layout file maps a CDR.")


@app.command("list")
def list_layouts(
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """List the shipped layouts (use a name with --format, or write your own for --layout)."""
    from tracehop.cdr.layouts import PRESETS

    rows = [
        {
            "name": layout.name,
            "aliases": list(layout.aliases),
            "kind": layout.kind,
            "fields": (
                "/".join(str(w) for w in layout.widths())
                if layout.columns
                else ("header" if layout.header else layout.kind)
            ),
            "description": layout.description,
        }
        for layout in PRESETS.values()
    ]
    if as_json:
        emit_json(rows)
        return
    out = stdout_console()
    for row in rows:
        aliases = f" (also {', '.join(row['aliases'])})" if row["aliases"] else ""
        out.print(f"[bold]{esc(row['name'])}[/]{esc(aliases)}: {esc(row['description'])}")


@app.command("show")
def show_layout(
    name: Annotated[str, typer.Argument(help="A shipped layout's name, or a layout file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show a layout: its file (with the documentation it rests on), or its mapping as JSON."""
    from tracehop.cdr.layouts import describe, get_layout, layout_text

    layout = get_layout(name)
    if as_json:
        emit_json(describe(layout))
        return
    # line by line: esc() writes control characters (a newline too) as \xNN
    text = "\n".join(esc(line) for line in layout_text(layout).splitlines())
    stdout_console().print(text, soft_wrap=True, highlight=False)


@app.command("draft")
def draft(
    path: Annotated[str, typer.Argument(help="A CDR file no shipped layout reads.")],
    name: Annotated[str, typer.Option(help="The layout's name.")] = "my-cdr",
) -> None:
    """Draft a layout file for a CDR file: its delimiter, header, and a guess for each column
    (from the header's names, or the values' shapes), to check and then use with --layout:
    tracehop layouts draft FILE > mine.toml; tracehop ingest FILE --layout mine.toml"""
    from pathlib import Path

    from tracehop.cdr.draft import draft_layout
    from tracehop.cli.output import stderr_console

    result = draft_layout(Path(path), name=name)
    # the layout on stdout (to redirect into a file), what was guessed on stderr
    typer.echo(result.text, nl=False)
    err = stderr_console()
    guessed = ", ".join(f"{c} <- {f}" for c, f in result.mapped.items())
    err.print(f"guessed: {esc(guessed) or 'nothing'}")
    if result.missing:
        err.print(
            f"not found: {esc(', '.join(result.missing))} (name their fields in "
            f"{esc('[map]')} before ingesting)"
        )
