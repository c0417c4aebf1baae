"""tracehop: trace, detect and stop illegal robocalls, and prove it.

The library API (the CLI, API and dashboard are thin shells over it)::

    import tracehop
    settings = tracehop.load_settings(home="demo-home")
    tracehop.ingest(["cdrs/"], settings)
    tracehop.query("select upstream, count(*) from calls group by 1", settings).records()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["TracehopError", "__version__", "ingest", "load_settings", "query"]

if TYPE_CHECKING:
    from tracehop.analyst import query
    from tracehop.cdr.ingest import ingest
    from tracehop.errors import TracehopError
    from tracehop.settings import load_settings


def __getattr__(name: str) -> Any:
    # Lazy: importing tracehop does no work and loads no engine (DESIGN.md conventions).
    if name == "ingest":
        from tracehop.cdr.ingest import ingest

        return ingest
    if name == "query":
        from tracehop.analyst import query

        return query
    if name == "load_settings":
        from tracehop.settings import load_settings

        return load_settings
    if name == "TracehopError":
        from tracehop.errors import TracehopError

        return TracehopError
    raise AttributeError(f"module 'tracehop' has no attribute {name!r}")
