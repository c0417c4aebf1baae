"""Do-Not-Originate lists: numbers that must never appear as a caller ID (inbound-only lines,
unassigned numbers; 47 CFR 64.1200(k)(1); required of every provider since 15 Dec 2025).

A list is read whole, checked, sorted and stored as the E.164 digits in little-endian
``uint64`` chunks of the state DB, the list row and all its chunks in one transaction: an
import of millions of numbers is all or nothing (a crash or a kill mid-import leaves the
previous list as it was; ``tests/test_screen_dno.py`` kills one with SIGKILL halfway through
its chunks). Importing a list under a name it already has replaces it in that transaction.
The numbers reach the decision engine through a ``class dno`` rule (``tracehop block add
--class dno``), so a list can be loaded and watched in monitor mode before it blocks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select

from tracehop.cdr.lake import crash_point
from tracehop.errors import InputError
from tracehop.numbers import to_e164
from tracehop.screening.state import bump
from tracehop.store import Store
from tracehop.store.models import ScreenDnoChunk, ScreenDnoList
from tracehop.times import SYSTEM, Clock, utc

CHUNK = 131_072  # numbers per chunk: 1 MiB of uint64
MAX_REJECTS_SHOWN = 20


@dataclass
class DnoFile:
    numbers: np.ndarray  # sorted, unique uint64 E.164 digits
    lines: int = 0
    rejected: int = 0
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (line, value, why)


@dataclass(frozen=True)
class DnoList:
    id: int
    name: str
    source: str
    numbers: int
    sha256: str
    author: str
    imported_at: object

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "source": self.source,
            "numbers": self.numbers,
            "sha256": self.sha256,
            "author": self.author,
            "imported_at": utc(self.imported_at).isoformat(),  # type: ignore[arg-type]
        }


def _digits(value: str) -> int | None:
    """The E.164 digits of a number as a DNO file gives it, or None."""
    v = value.strip().strip('"').strip()
    if v.isascii() and v.isdigit():
        if len(v) == 10:
            return int("1" + v)
        if len(v) == 11 and v[0] == "1":
            return int(v)
    elif len(v) == 12 and v[:2] == "+1" and v[2:].isascii() and v[2:].isdigit():
        return int(v[1:])
    e164 = to_e164(v)
    return int(e164[1:]) if e164 else None


def read_dno_file(path: Path) -> DnoFile:
    """Numbers one a line, or the first column of a CSV (a header line is skipped); blank
    lines and ``#`` comments are ignored; a line that is not a number is reported with its
    line number and the others are kept."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no DNO file at {path}")
    found: list[int] = []
    rejects: list[tuple[int, str, str]] = []
    rejected = 0
    lines = 0
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lines, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            value = text.split(",", 1)[0]
            n = _digits(value)
            if n is None:
                if lines == 1 and any(ch.isalpha() for ch in value):
                    continue  # a header
                rejected += 1
                if len(rejects) < MAX_REJECTS_SHOWN:
                    rejects.append((lines, value[:40], "not a phone number"))
                continue
            found.append(n)
    if not found:
        raise InputError(f"{path}: no phone numbers found (one a line, E.164 or 10 digits)")
    numbers = np.unique(np.asarray(found, dtype=np.uint64))
    return DnoFile(numbers, lines, rejected, rejects)


def import_dno(
    store: Store,
    path: Path,
    *,
    name: str,
    author: str,
    clock: Clock = SYSTEM,
    crash_at: str | None = None,
) -> tuple[DnoList, DnoFile]:
    """Read ``path`` and store it as the DNO list ``name`` (replacing one of that name), all
    or nothing."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InputError("--name: 1 to 100 characters")
    read = read_dno_file(path)
    numbers = read.numbers.astype("<u8")
    digest = hashlib.sha256(numbers.tobytes()).hexdigest()
    now = clock.now()
    chunks = [numbers[i : i + CHUNK].tobytes() for i in range(0, len(numbers), CHUNK)]
    with store.session() as s:
        old = s.scalars(select(ScreenDnoList).where(ScreenDnoList.name == name)).first()
        if old is not None:
            s.execute(delete(ScreenDnoChunk).where(ScreenDnoChunk.list_id == old.id))
            s.delete(old)
            s.flush()
        row = ScreenDnoList(
            name=name,
            source=Path(path).name,
            numbers=len(numbers),
            sha256=digest,
            author=author,
            imported_at=now,
        )
        s.add(row)
        s.flush()
        for seq, data in enumerate(chunks):
            s.add(ScreenDnoChunk(list_id=row.id, seq=seq, data=data))
            if seq == len(chunks) // 2:
                s.flush()
                crash_point("dno_half", crash_at)  # the crash test: killed mid-transaction
        bump(s, "dno", now)
        s.flush()
        result = _list(row)
    return result, read


def _list(row: ScreenDnoList) -> DnoList:
    return DnoList(
        row.id, row.name, row.source, row.numbers, row.sha256, row.author, row.imported_at
    )


def list_dno(store: Store) -> list[DnoList]:
    with store.session() as s:
        return [_list(r) for r in s.scalars(select(ScreenDnoList).order_by(ScreenDnoList.name))]


def remove_dno(store: Store, name: str, *, clock: Clock = SYSTEM) -> DnoList:
    with store.session() as s:
        row = s.scalars(select(ScreenDnoList).where(ScreenDnoList.name == name)).first()
        if row is None:
            from tracehop.errors import NotFoundError

            raise NotFoundError(f"no DNO list named {name!r}: see tracehop dno list")
        out = _list(row)
        s.execute(delete(ScreenDnoChunk).where(ScreenDnoChunk.list_id == row.id))
        s.delete(row)
        bump(s, "dno", clock.now())
    return out


def load_dno(store: Store) -> np.ndarray:
    """Every list's numbers, as one sorted array of unique uint64 E.164 digits."""
    parts: list[np.ndarray] = []
    with store.session() as s:
        q = select(ScreenDnoChunk.data).order_by(ScreenDnoChunk.list_id, ScreenDnoChunk.seq)
        for (data,) in s.execute(q):
            parts.append(np.frombuffer(data, dtype="<u8"))
    if not parts:
        return np.zeros(0, dtype=np.uint64)
    return np.unique(np.concatenate(parts))
