"""The text of the state DB's JSON columns, one writer for SQLAlchemy's engines
(``tracehop.store.db``) and the manifest's own sqlite3 connection (``store.manifest``), so
both store the same text. No SQLAlchemy here: the manifest's fast path does not import it.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def json_dumps(value: Any) -> str:
    """The text of a JSON column: orjson, five times faster than the standard library on
    the findings' evidence (a 100 M-call detection run stores about 115,000 of them,
    docs/performance.md, "Issue 14, sixth pass"). What orjson refuses (an integer beyond 64
    bits) goes through ``json`` as before; orjson writes NaN as null (JSON has no NaN)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def json_loads(text: str | bytes) -> Any:
    """A JSON column's value; what orjson refuses (NaN written by an older version) through
    ``json``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
