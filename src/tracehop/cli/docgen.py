"""Generate docs/cli.md from each command's ``--help`` (tests/test_docs.py keeps it current).

python -m tracehop.cli.docgen > docs/cli.md
"""

from __future__ import annotations

import os

import typer
from typer.testing import CliRunner

from tracehop.cli import _register, app


def command_paths(root: typer.Typer = app) -> list[list[str]]:
    """Every command as the words a user types after ``tracehop``."""
    paths: list[list[str]] = []
    for info in root.registered_commands:
        name = info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
        paths.append([name])
    for group in root.registered_groups:
        sub = group.typer_instance
        gname = group.name or (sub.info.name if sub else "")
        if sub is not None:
            paths.extend([[gname, *p] for p in command_paths(sub)])
    return sorted(paths)


def help_text(words: list[str]) -> str:
    env = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb", "_TYPER_FORCE_DISABLE_TERMINAL": "1"}
    result = CliRunner().invoke(app, [*words, "--help"], env=env, prog_name="tracehop")
    return "\n".join(line.rstrip() for line in result.output.splitlines()).strip()


def render() -> str:
    _register()
    os.environ.setdefault("COLUMNS", "100")
    parts = [
        "# CLI reference",
        "",
        "Generated from each command's `--help` by `python -m tracehop.cli.docgen > docs/cli.md`;"
        " `tests/test_docs.py` fails when this page is out of date. Every command that prints "
        "results takes `--json`, the stable contract for scripts; errors print one line "
        "`Error: ...` on stderr and exit 1.",
        "",
        "## `tracehop`",
        "",
        "```",
        help_text([]),
        "```",
    ]
    for words in command_paths():
        parts += ["", f"## `tracehop {' '.join(words)}`", "", "```", help_text(words), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
