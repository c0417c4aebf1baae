"""What the rules page and ``GET /api/v1/rules`` show: each rule in force with the calls it
blocked (from the decision log, ``audit.hits_by_rule``), and the latest blocked calls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from tracehop.analyst import jsonable
from tracehop.screening.audit import hits_by_rule, recent_blocks, screening_dir
from tracehop.screening.rules import KINDS, Rule
from tracehop.screening.state import load_rules
from tracehop.store import Store

# kinds a person adds from the rules page (velocity rules need the CLI's options)
FORM_KINDS = ("caller_id", "caller_prefix", "customer", "provider", "called", "class")


def rule_json(rule: Rule, hits: dict[int, tuple[int, str]]) -> dict[str, Any]:
    """A rule as JSON, with ``hits`` (calls it blocked) and ``last_hit`` (when, or None)."""
    count, last = hits.get(rule.id, (0, ""))
    return jsonable({**rule.as_dict(), "describe": KINDS[rule.kind].description,
                     "hits": count, "last_hit": _time(last)})  # fmt: skip


def _time(text: object) -> datetime | object:
    """A logged time (ISO 8601) as a datetime, so that the JSON says every time one way."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return text


def rules_with_hits(
    store: Store, home: Path, *, include_removed: bool = False
) -> list[dict[str, Any]]:
    """The rules (in force and future; ``include_removed``: all), each with its hits."""
    hits = hits_by_rule(screening_dir(home))
    return [rule_json(r, hits) for r in load_rules(store, include_removed=include_removed)]


def decisions(home: Path, limit: int = 100) -> list[dict[str, Any]]:
    """The last ``limit`` blocked calls, newest first: time, caller, called, upstream, rule,
    SIP code, reason and where the decision was asked (sip, http)."""
    return [
        jsonable({**e, "at": _time(e.get("at"))}) for e in recent_blocks(screening_dir(home), limit)
    ]
