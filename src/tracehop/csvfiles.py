"""Reading the small CSV files people hand tracehop (directories, complaints, requests)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from tracehop.errors import InputError


def open_csv(path: Path | str) -> tuple[csv.DictReader, list[str]]:
    """A DictReader over a UTF-8 CSV (BOM allowed) whose header is lower-cased and stripped;
    a file that cannot be read is a one-line InputError."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    return reader, header


def read_rows(path: Path | str) -> list[dict[str, str]]:
    """Every row of a UTF-8 CSV file the simulator or tracehop wrote, as dicts (header as
    written). For files people hand tracehop, use :func:`open_csv`."""
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
