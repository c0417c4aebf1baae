"""Ingest verifies the STIR/SHAKEN Identity headers of a CDR file (docs/ingest.md, "STIR/SHAKEN").

For the good rows of a staged chunk that carry an ``identity``, one
``tracehop.shaken.verify.Verifier`` (one per ingest: its certificate cache is shared) checks
each header against the row's own caller, called number and **start time**: ``iat``
freshness is judged as the terminating switch judged it at the call, not at the time of
ingest (ATIS-1000074 STI-VS; RFC 8224 6.2.1's 60 s). The outcome lands in the lake:

- ``identity_status``: the verstat (``TN-Validation-Passed`` / ``TN-Validation-Failed``,
  ATIS-1000074), which detection's ``verify_failed_share`` reads;
- ``extra.identity_reason``: the exact reason of a failure (``stale``, ``bad_signature``, ...;
  ``tracehop.shaken.result.Reason``);
- ``attest`` / ``orig_id``, when the switch did not log them, from a header that verified.

A header that fails, however malformed, is a verification result, never a rejected row. Rows
without an identity keep ``identity_status`` NULL (most switches do not log the header).

The result is view ``lined_v``: ``lined`` plus ``identity_status``, ``identity_reason``,
``v_attest``, ``v_origid``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:
    from tracehop.settings import Settings
    from tracehop.shaken.verify import Verifier

log = logging.getLogger(__name__)

IDENTITY_COLUMNS = "identity_status, identity_reason, v_attest, v_origid"


class IngestVerifier:
    """The one verifier of an ingest: the caller's, or made from the settings the first
    time a file has identities (``Verifier.from_settings``: trust anchors
    ``TRACEHOP_SHAKEN_TRUST``, x5u folders ``TRACEHOP_SHAKEN_CERTS``, the home's certificate
    cache). Without trust anchors nothing can be verified: the identities stay unverified
    (NULL), with one warning."""

    def __init__(self, settings: Settings, verifier: Verifier | None = None) -> None:
        self.settings = settings
        self._verifier = verifier
        self._own = False
        self._warned = False

    def get(self) -> Verifier | None:
        if self._verifier is None and self.settings.shaken_trust is not None:
            from tracehop.shaken.verify import Verifier  # only when a file is signed

            self._verifier = Verifier.from_settings(self.settings)
            self._own = True
        if self._verifier is None and not self._warned:
            log.warning(
                "CDRs carry STIR/SHAKEN Identity headers but no trust anchors are set "
                "(TRACEHOP_SHAKEN_TRUST): identity_status stays empty"
            )
            self._warned = True
        return self._verifier

    def close(self) -> None:
        if self._own and self._verifier is not None:
            self._verifier.close()


@dataclass
class IdentityStats:
    verified: int = 0  # rows whose header was verified
    passed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # failures by reason


def no_verification(con: duckdb.DuckDBPyConnection) -> None:
    """``lined_v`` with empty verification columns (no verifier, or no identities)."""
    con.execute(
        "CREATE OR REPLACE TEMP VIEW lined_v AS SELECT *, NULL::VARCHAR AS identity_status, "
        "NULL::VARCHAR AS identity_reason, NULL::VARCHAR AS v_attest, "
        "NULL::VARCHAR AS v_origid FROM lined"
    )


def verify_lined(con: duckdb.DuckDBPyConnection, source: IngestVerifier | None) -> IdentityStats:
    """Verify the identities of the good rows of ``lined``; define ``lined_v``."""
    stats = IdentityStats()
    if source is None:
        no_verification(con)
        return stats
    where = "WHERE reason IS NULL AND identity IS NOT NULL"
    # The verifier first, the headers after: without trust anchors nothing is verified, and
    # fetching every header into Python for nothing raised the peak by 0.9 GB for 2.3 M
    # headers of ~450 bytes (docs/performance.md, "Kamailio acc files: memory").
    signed = con.execute(f"SELECT EXISTS (SELECT 1 FROM lined {where})").fetchall()[0][0]
    verifier = source.get() if signed else None
    if verifier is None:
        no_verification(con)
        return stats
    rows = con.execute(
        "SELECT source_line, identity, coalesce(caller, caller_raw), "
        f"coalesce(called, called_raw), epoch(start) FROM lined {where}"
    ).fetchall()
    results = verifier.verify_many(
        [r[1] for r in rows],
        orig=[r[2] for r in rows],
        dest=[r[3] for r in rows],
        at=[datetime.fromtimestamp(r[4], UTC) for r in rows],
    )
    statuses: list[str] = []
    reasons: list[str | None] = []
    attests: list[str | None] = []
    origids: list[str | None] = []
    for res in results:
        statuses.append(res.verstat)
        if res.valid:
            stats.passed += 1
            reasons.append(None)
            attests.append(res.attest)
            origids.append(res.origid)
        else:
            reason = str(res.reason)
            stats.reasons[reason] = stats.reasons.get(reason, 0) + 1
            reasons.append(reason)
            attests.append(None)
            origids.append(None)
    stats.verified = len(results)
    # Lists as parameters, not a registered Arrow table (registering imports pandas).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE th_identity AS SELECT unnest(?::BIGINT[]) AS id_line, "
        "unnest(?::VARCHAR[]) AS identity_status, unnest(?::VARCHAR[]) AS identity_reason, "
        "unnest(?::VARCHAR[]) AS v_attest, unnest(?::VARCHAR[]) AS v_origid",
        [[r[0] for r in rows], statuses, reasons, attests, origids],
    )
    con.execute(
        "CREATE OR REPLACE TEMP VIEW lined_v AS SELECT l.*, i.identity_status, "
        "i.identity_reason, i.v_attest, i.v_origid "
        "FROM lined l LEFT JOIN th_identity i ON i.id_line = l.source_line"
    )
    return stats
