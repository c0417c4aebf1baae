"""Docs kept true: every setting, command and canonical column is documented."""

from __future__ import annotations

from pathlib import Path

from tracehop.cdr.formats import CANONICAL_COLUMNS, PRESETS
from tracehop.settings import SETTINGS_HELP, Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_is_documented() -> None:
    names = {n for n, _, _ in SETTINGS_HELP}
    fields = {f"TRACEHOP_{f.upper()}" for f in Settings.model_fields}
    assert names == fields
    text = (DOCS / "settings.md").read_text()
    for name, default, _help in SETTINGS_HELP:
        assert f"| `{name}` | `{default}` |" in text


def test_cli_reference_is_current() -> None:
    from tracehop.cli.docgen import render

    assert (DOCS / "cli.md").read_text() == render(), (
        "docs/cli.md is out of date: python -m tracehop.cli.docgen > docs/cli.md"
    )


def test_glossary_has_every_canonical_column() -> None:
    text = (DOCS / "glossary.md").read_text()
    for column in CANONICAL_COLUMNS:
        assert f"`{column}`" in text, column


def test_ingest_doc_names_every_preset() -> None:
    text = (DOCS / "ingest.md").read_text()
    for name in PRESETS:
        assert f"| `{name}` |" in text


def test_readme_shows_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    assert "tracehop.ingest(" in text and "tracehop.query(" in text
