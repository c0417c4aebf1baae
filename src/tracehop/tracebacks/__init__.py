"""Tracebacks: the provider's responder (who sent us this call?) and the hub's hop-by-hop walk.

- ``requests``: requests as text and CSV; ``protocol``: the request and answer models;
- ``lookups``: the responder's queries of the lake (the engine seam); ``responder``: matching
  and ranking; ``answers``: requests and answers in the state DB; ``deadlines``: the 24 h rule;
- ``traces``: the hub's traces and hops (types, storage, summary); ``nodeclient``: asking one
  node (retry, deadline); ``hub``: the walk; ``batch``: many complaints; ``shortcut``: the
  STIR/SHAKEN shortcut; ``directory``: the consortium's providers and number blocks.

The names below are imported lazily: importing this package loads no engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracehop.tracebacks.deadlines import due_at, effective_receipt
    from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest
    from tracehop.tracebacks.requests import load_known_providers, parse_requests_csv
    from tracehop.tracebacks.responder import answer_batch, lookup

_WHERE = {
    "due_at": "deadlines",
    "effective_receipt": "deadlines",
    "HopAnswer": "protocol",
    "TracebackRequest": "protocol",
    "load_known_providers": "requests",
    "parse_requests_csv": "requests",
    "answer_batch": "responder",
    "lookup": "responder",
}
__all__ = [
    "HopAnswer",
    "TracebackRequest",
    "answer_batch",
    "due_at",
    "effective_receipt",
    "load_known_providers",
    "lookup",
    "parse_requests_csv",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"tracehop.tracebacks.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'tracehop.tracebacks' has no attribute {name!r}")
