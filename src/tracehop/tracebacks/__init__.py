"""Tracebacks: the provider's responder (who sent us this call?) and, later, the hub."""

from tracehop.tracebacks.deadlines import due_at, effective_receipt
from tracehop.tracebacks.protocol import HopAnswer, TracebackRequest
from tracehop.tracebacks.responder import (
    answer_batch,
    load_known_providers,
    lookup,
    parse_requests_csv,
)

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
