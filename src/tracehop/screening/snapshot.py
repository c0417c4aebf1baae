"""The last rules a serving screener loaded, kept on disk, so that a redirect server restarted
while the state DB is down still starts with them (and says so) instead of not at all.

``HOME/screening/snapshot/``: ``dno-<sha>.npy`` (the DNO numbers) and ``rules.json`` (the rules,
their versions and the DNO file's name). Written like the lake's commits: each file to a
temporary name, flushed to disk, renamed into place; ``rules.json`` last, as the commit point
that names the DNO file it goes with, so a crash mid-write leaves the previous snapshot whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np

from tracehop.cdr.lake import fsync_dir
from tracehop.screening.engine import FixedSource
from tracehop.screening.rules import Rule

log = logging.getLogger(__name__)

RULES = "rules.json"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def save(folder: Path, rules: list[Rule], dno: np.ndarray, versions: tuple[int, int]) -> None:
    """Keep ``rules`` and ``dno`` as the last good rule set."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    numbers = np.ascontiguousarray(dno, dtype="<u8")
    name = f"dno-{hashlib.sha256(numbers.tobytes()).hexdigest()[:16]}.npy"
    if not (folder / name).exists():
        _write(folder / name, numbers.tobytes())
    body = {
        "versions": list(versions),
        "dno_file": name,
        "rules": [asdict(r) for r in rules],
    }
    _write(folder / RULES, json.dumps(body, default=_iso).encode())
    fsync_dir(folder)
    for old in folder.glob("dno-*.npy"):  # DNO files no snapshot names any more
        if old.name != name:
            old.unlink(missing_ok=True)


def load(folder: Path) -> FixedSource | None:
    """The last good rule set, or None when there is none (or it cannot be read)."""
    folder = Path(folder)
    try:
        body = json.loads((folder / RULES).read_text())
        numbers = np.frombuffer((folder / body["dno_file"]).read_bytes(), dtype="<u8")
        rules = [Rule(**_dates(r)) for r in body["rules"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("screening: no usable snapshot in %s: %s", folder, exc)
        return None
    return FixedSource(rules, numbers.copy())


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _dates(row: dict) -> dict:
    for key in ("starts_at", "expires_at", "created_at", "removed_at"):
        if row.get(key):
            row[key] = datetime.fromisoformat(row[key])
    return row
