"""Python's cyclic garbage collector paused around bulk work.

A full (generation 2) collection walks every live container object. A detection run holds
millions of them (each caller ID's indicators, each finding's evidence), so the collector
kept starting full collections as the run allocated, and each walked them all: at 10 M calls
nine collections cost about 1.2 s of a 17 s run and freed ten objects
(docs/performance.md, "Issue 14, sixth pass"). Reference counting still frees everything
that is not in a cycle while the collector is paused; cycles made meanwhile are collected
at the next collection after it resumes.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """No automatic cyclic collection while the block runs. Nested and concurrent blocks
    (threads of one server) resume the collector when the last one ends, and only if it
    was enabled when the first began."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                gc.enable()
