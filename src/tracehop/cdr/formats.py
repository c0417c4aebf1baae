"""CDR formats: the canonical columns, and the shipped layouts by name (``--format NAME``).

Every format is a layout file now (``cdr/layouts/*.toml``, read by ``layouts.py`` on first
use); this module keeps the names the rest of tracehop and its docs use.
"""

from __future__ import annotations

from pathlib import Path

from tracehop.cdr.compile import q
from tracehop.cdr.layouts import DISPOSITIONS, PRESETS, Layout

CANONICAL_COLUMNS: tuple[str, ...] = (
    "call_id",
    "start",
    "duration",
    "caller",
    "called",
    "caller_raw",
    "called_raw",
    "upstream",
    "downstream",
    "disposition",
    "sip_code",
    "attest",
    "orig_id",
    "identity",
    "identity_status",
    "provider",
    "source_file",
    "source_line",
    "extra",
)


def detect(path: Path) -> str:
    """The name of the shipped layout that reads ``path`` (see ``detect.detect``)."""
    from tracehop.cdr.detect import detect as detect_layout

    return detect_layout(path).layout.name


__all__ = ["CANONICAL_COLUMNS", "DISPOSITIONS", "PRESETS", "Layout", "detect", "q"]
