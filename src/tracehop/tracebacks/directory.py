"""The hub's provider directory and number blocks, kept in the hub's state DB.

The directory says who each provider is (name, country, consortium and RMD membership) and
how to reach its tracehop node (base URL and the bearer token its operator issued to the
hub). The number blocks (NPA-NXX -> terminating provider, as number portability data gives
them) tell the hub where a trace starts. Formats: docs/traceback.md, "Hub".

Tokens are stored encrypted with the hub's key (``tracehop.hubkey``); an import encrypts the
ones it is given and any stored in clear before tokens were encrypted.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import delete, select

from tracehop.csvfiles import open_csv
from tracehop.errors import ConfigError, InputError
from tracehop.hubkey import TokenBox, TokenKeyError, is_encrypted
from tracehop.numbers import to_e164
from tracehop.settings import Settings
from tracehop.store import Store
from tracehop.store.models import HubNumberBlock, HubProvider

log = logging.getLogger(__name__)

DIRECTORY_REQUIRED = ("id", "name", "country")
NODES_REQUIRED = ("id", "node_url")
BLOCKS_REQUIRED = ("npa_nxx", "provider")
_TRUE = ("true", "yes", "y", "1", "t")
_FALSE = ("false", "no", "n", "0", "f", "")


@dataclass(frozen=True)
class Provider:
    """A directory entry as the hub uses it. ``token`` is the clear token (from a file, or
    loaded for the hub with its key); it stays out of ``to_json`` and the repr. Loaded without
    the key, ``token`` is None and ``has_token`` says whether one is stored."""

    id: str
    name: str
    country: str
    in_consortium: bool = True
    rmd_listed: bool = True
    rmd_id: str | None = None
    roles: str | None = None
    contact: str | None = None
    node_url: str | None = None
    token: str | None = field(default=None, repr=False)
    ocn: str | None = None  # the SPC of its STIR/SHAKEN certificate
    has_token: bool = False

    @property
    def foreign(self) -> bool:
        return self.country != "US"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "country": self.country,
            "roles": self.roles,
            "in_consortium": self.in_consortium,
            "rmd_listed": self.rmd_listed,
            "rmd_id": self.rmd_id,
            "ocn": self.ocn,
            "contact": self.contact,
            "node_url": self.node_url,
            "token": "set" if self.token or self.has_token else None,  # never shown
        }


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    nodes: int = 0  # providers given a node URL by the nodes file

    def to_json(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "nodes": self.nodes}


def read_rows(path: Path, required: tuple[str, ...], what: str) -> list[tuple[int, dict[str, str]]]:
    """Read a CSV with a header; (line, row) with lower-case keys and stripped values."""
    reader, header = open_csv(path)
    missing = [c for c in required if c not in header]
    if not header or missing:
        raise InputError(
            f"{path}: a {what} needs the columns {', '.join(required)} "
            f"(missing: {', '.join(missing or required)})"
        )
    out: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if None in row:
                raise InputError(f"{path}:{reader.line_num}: more fields than the header")
            clean = {k: (v or "").strip() for k, v in row.items()}
            if any(clean.values()):
                out.append((reader.line_num, clean))
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not readable as CSV: {exc}") from None
    return out


def _flag(path: Path, line: int, name: str, value: str, default: bool) -> bool:
    v = value.lower()
    if not v:
        return default
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise InputError(f"{path}:{line}: {name} {value!r} is not true or false")


def _url(path: Path, line: int, value: str) -> str | None:
    if not value:
        return None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(
            f"{path}:{line}: node_url {value!r} is not an http(s) URL "
            "(give the node's base URL, e.g. https://tb.example.net)"
        )
    return value.rstrip("/")


def read_directory(path: Path) -> list[Provider]:
    """Providers from a directory CSV: ``id, name, country`` and optionally ``roles,
    in_consortium, rmd_listed, rmd_id, ocn, contact, node_url, token`` (the simulator's
    directory.csv works as is; its other columns are ignored)."""
    providers: dict[str, Provider] = {}
    for line, row in read_rows(path, DIRECTORY_REQUIRED, "provider directory"):
        pid = row["id"]
        country = row["country"].upper()
        if not pid:
            raise InputError(f"{path}:{line}: id is empty")
        if pid in providers:
            raise InputError(f"{path}:{line}: provider {pid!r} is listed twice")
        if len(country) != 2 or not country.isalpha():
            raise InputError(f"{path}:{line}: country {row['country']!r} is not an ISO-2 code")
        providers[pid] = Provider(
            id=pid,
            name=row["name"] or pid,
            country=country,
            roles=row.get("roles") or None,
            in_consortium=_flag(path, line, "in_consortium", row.get("in_consortium", ""), True),
            rmd_listed=_flag(path, line, "rmd_listed", row.get("rmd_listed", ""), True),
            rmd_id=row.get("rmd_id") or None,
            contact=row.get("contact") or None,
            node_url=_url(path, line, row.get("node_url", "")),
            token=row.get("token") or None,
            ocn=(row.get("ocn") or "").strip() or None,
        )
    return list(providers.values())


def read_nodes(path: Path) -> dict[str, tuple[str | None, str | None, str | None]]:
    """``id, node_url[, token, contact]`` per provider: id -> (node_url, token, contact)."""
    nodes: dict[str, tuple[str | None, str | None, str | None]] = {}
    for line, row in read_rows(path, NODES_REQUIRED, "nodes file"):
        pid = row["id"]
        if not pid:
            raise InputError(f"{path}:{line}: id is empty")
        if pid in nodes:
            raise InputError(f"{path}:{line}: provider {pid!r} is listed twice")
        nodes[pid] = (
            _url(path, line, row["node_url"]),
            row.get("token") or None,
            row.get("contact") or None,
        )
    return nodes


def hub_settings(store: Store, settings: Settings | None) -> Settings:
    """The hub's settings (where its token key is): given, or those the store was opened
    with."""
    if settings is not None:
        return settings
    if store.settings is None:
        raise ConfigError(
            "the hub's node tokens are encrypted with a key kept in its home: "
            "pass the hub's settings (settings=...)"
        )
    return store.settings


def import_directory(
    store: Store,
    directory: Path,
    nodes: Path | None = None,
    *,
    settings: Settings | None = None,
) -> ImportResult:
    """Create or update providers from a directory CSV, with node URLs and tokens from a
    nodes CSV. All or nothing: a bad row changes nothing. Providers not in the file stay.

    Tokens are stored encrypted with the hub's key (``settings``: see ``hub_settings``);
    tokens already stored are re-encrypted where needed (stored in clear before encryption,
    or under an older key while the key is rotated)."""
    box = TokenBox(hub_settings(store, settings))
    providers = read_directory(directory)
    by_id = {p.id: p for p in providers}
    node_rows = read_nodes(nodes) if nodes is not None else {}
    unknown = sorted(set(node_rows) - set(by_id))
    result = ImportResult()
    now = datetime.now(UTC)
    with store.session() as s:
        existing = {p.id: p for p in s.scalars(select(HubProvider))}
        unknown = [u for u in unknown if u not in existing]
        if unknown:
            raise InputError(
                f"{nodes}: providers not in the directory: {', '.join(unknown[:5])}"
                + (" ..." if len(unknown) > 5 else "")
            )
        given: dict[str, str] = {}  # clear tokens from the files, the nodes file last
        for p in providers:
            row = existing.get(p.id)
            if row is None:
                row = HubProvider(id=p.id)
                s.add(row)
                existing[p.id] = row
                result.created += 1
            else:
                result.updated += 1
            row.name, row.country, row.roles = p.name, p.country, p.roles
            row.in_consortium, row.rmd_listed, row.rmd_id = p.in_consortium, p.rmd_listed, p.rmd_id
            # columns the file leaves empty keep what an earlier import gave
            row.contact = p.contact or row.contact
            row.ocn = p.ocn or row.ocn
            row.node_url = p.node_url or row.node_url
            if p.token:
                given[p.id] = p.token
            row.updated_at = now
        for pid, (url, token, contact) in node_rows.items():
            row = existing[pid]
            row.node_url = url
            if token:
                given[pid] = token
            row.contact = contact or row.contact
            row.updated_at = now
            result.nodes += url is not None
        unreadable = []
        for pid, row in existing.items():
            if pid in given:
                row.token = box.encrypt(given[pid])
            elif row.token:
                stored = box.reencrypt(row.token)
                if stored is None:
                    unreadable.append(pid)
                elif stored != row.token:
                    row.token = stored
    if unreadable:
        # not an error: re-importing the tokens is the way out, and may come in parts
        log.warning("%s", box.cannot_decrypt(sorted(unreadable)))
    return result


def load_directory(store: Store, settings: Settings | None = None) -> dict[str, Provider]:
    """The directory. With the hub's ``settings`` the tokens are decrypted (for the hub that
    sends them: ``TokenKeyError`` if its key does not decrypt them); without, only
    ``has_token`` says which providers have one (listings, the API)."""
    with store.session() as s:
        rows = list(s.scalars(select(HubProvider).order_by(HubProvider.id)))
    tokens: dict[str, str] = {}
    if settings is not None:
        box = TokenBox(settings)
        unreadable, legacy = [], []
        for r in rows:
            if not r.token:
                continue
            if not is_encrypted(r.token):
                legacy.append(r.id)
            token = box.try_decrypt(r.token)
            if token is None:
                unreadable.append(r.id)
            else:
                tokens[r.id] = token
        if unreadable:
            raise TokenKeyError(box.cannot_decrypt(unreadable))
        if legacy:
            log.warning(
                "%d node tokens are stored in clear (written before tokens were encrypted): "
                "`tracehop hub directory import` encrypts them",
                len(legacy),
            )
    return {
        r.id: Provider(
            id=r.id,
            name=r.name,
            country=r.country,
            in_consortium=r.in_consortium,
            rmd_listed=r.rmd_listed,
            rmd_id=r.rmd_id,
            roles=r.roles,
            contact=r.contact,
            node_url=r.node_url,
            ocn=r.ocn,
            token=tokens.get(r.id),
            has_token=bool(r.token),
        )
        for r in rows
    }


def import_blocks(store: Store, path: Path) -> int:
    """Replace the number blocks with ``npa_nxx, provider[, use]`` from a CSV (the
    simulator's number_blocks.csv): portability data is a full snapshot."""
    blocks: dict[str, tuple[str, str | None]] = {}
    for line, row in read_rows(path, BLOCKS_REQUIRED, "number blocks file"):
        code = row["npa_nxx"]
        if len(code) != 6 or not code.isdigit():
            raise InputError(f"{path}:{line}: npa_nxx {code!r} is not six digits (NPA-NXX)")
        if not row["provider"]:
            raise InputError(f"{path}:{line}: provider is empty")
        if code in blocks:
            raise InputError(f"{path}:{line}: block {code} is listed twice")
        blocks[code] = (row["provider"], row.get("use") or None)
    with store.session() as s:
        s.execute(delete(HubNumberBlock))
        s.add_all(HubNumberBlock(npa_nxx=k, provider=p, use=u) for k, (p, u) in blocks.items())
    return len(blocks)


def load_blocks(store: Store) -> dict[str, str]:
    with store.session() as s:
        return {b.npa_nxx: b.provider for b in s.scalars(select(HubNumberBlock))}


def npa_nxx(called: str) -> str | None:
    """The NPA-NXX of a NANP number in any common format, or None."""
    e164 = to_e164(called)
    if e164 and e164.startswith("+1") and len(e164) == 12:
        return e164[2:8]
    return None
