"""The data of a detection run: its time window, its findings and the run itself.

Plain data, no queries: every detection module may import it (the orchestrator ``run.py``
builds a :class:`Detection`; ``campaigns.py`` adds campaign :class:`Finding` objects), and it
imports nothing of the detection package.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Window:
    """A half-open time window ``[since, until)`` in UTC; None means unbounded. Its SQL
    condition is ``queries.window_where``."""

    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Finding:
    kind: str  # customer | caller_id | campaign
    subject: str
    flagged: bool
    score: float
    categories: list[str]
    evidence: dict[str, Any]
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass
class Detection:
    window: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    run_id: str | None = None
    engine: str = "duckdb"  # where it ran: the engine's name (duckdb | spark)

    def finding_json(self, finding: Finding, seq: int) -> dict[str, Any]:
        """A finding as ``detect --json`` prints it; a stored run's findings carry their
        ``id`` (``RUN_ID:SEQ``), what ``tracehop block from-finding`` takes."""
        ident = {"id": f"{self.run_id}:{seq}"} if self.run_id else {}
        return ident | asdict(finding)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "engine": self.engine,
            "window": self.window,
            "findings": [self.finding_json(f, i) for i, f in enumerate(self.findings)],
        }
