"""State DB tables. Names follow the glossary in DESIGN.md."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CUSTOMER_KINDS = ("end_user", "enterprise", "call_center", "carrier")


class Base(DeclarativeBase):
    pass


class IngestManifest(Base):
    """One row per source file ingested: its checksum makes a re-ingest a no-op."""

    __tablename__ = "ingest_manifest"

    checksum: Mapped[str] = mapped_column(String(64), primary_key=True)
    ingest_id: Mapped[str] = mapped_column(String(40), unique=True)
    source_path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(200))
    rows_ingested: Mapped[int] = mapped_column(BigInteger)
    rows_rejected: Mapped[int] = mapped_column(BigInteger)
    first_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files: Mapped[list[str]] = mapped_column(JSON)  # lake files written, relative to the lake
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Customer(Base):
    """A customer of the provider; ``id`` is the value that appears as ``upstream`` in CDRs."""

    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    kind: Mapped[str] = mapped_column(String(20))  # one of CUSTOMER_KINDS
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    onboarded: Mapped[date | None] = mapped_column(Date)
    rmd_id: Mapped[str | None] = mapped_column(String(64))  # Robocall Mitigation Database number
    notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    # under review (the dashboard's "Set review"): not part of the imported record
    review_note: Mapped[str | None] = mapped_column(Text)
    review_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    review_by: Mapped[str | None] = mapped_column(String(200))


class TracebackRequestRow(Base):
    """A traceback request as received (stored before it is answered)."""

    __tablename__ = "traceback_requests"

    request_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    caller: Mapped[str] = mapped_column(String(100))  # as given
    called: Mapped[str] = mapped_column(String(100))
    caller_e164: Mapped[str | None] = mapped_column(String(32))
    called_e164: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # UTC
    on_date: Mapped[date | None] = mapped_column(Date)  # date-only requests
    window_seconds: Mapped[float | None] = mapped_column(Float)
    description: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # 64.1200(n)(1)
    # Who asked over the API (the token's name); NULL for requests entered at this provider.
    owner: Mapped[str | None] = mapped_column(String(100))


class TracebackAnswerRow(Base):
    """The answer to a request; answering again replaces it (one per request)."""

    __tablename__ = "traceback_answers"

    request_id: Mapped[str] = mapped_column(
        String(200), ForeignKey("traceback_requests.request_id"), primary_key=True
    )
    answer: Mapped[str] = mapped_column(String(30))  # one of the four hop answers
    upstream: Mapped[str | None] = mapped_column(String(200))
    customer: Mapped[dict | None] = mapped_column(JSON)
    confidence: Mapped[float] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    matches: Mapped[list] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # answered | needs_review
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    times_answered: Mapped[int] = mapped_column(Integer, default=1)
    # where the lookup ran: duckdb | spark (migration 0014; duckdb for answers before)
    engine: Mapped[str] = mapped_column(String(20), default="duckdb", server_default="duckdb")


# --- the hub (the consortium's side of a traceback) ------------------------------------------


class HubProvider(Base):
    """A provider the hub knows: its directory entry and how to reach its tracehop node."""

    __tablename__ = "hub_providers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(400))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    roles: Mapped[str | None] = mapped_column(String(200))  # ;-separated, as in directory.csv
    in_consortium: Mapped[bool] = mapped_column(Boolean)
    rmd_listed: Mapped[bool] = mapped_column(Boolean)
    rmd_id: Mapped[str | None] = mapped_column(String(64))
    # Operating Company Number: the SPC in its STIR/SHAKEN certificate (ATIS-1000080)
    ocn: Mapped[str | None] = mapped_column(String(16))
    contact: Mapped[str | None] = mapped_column(Text)
    node_url: Mapped[str | None] = mapped_column(Text)  # base URL of its node, e.g. https://...
    # bearer token its operator issued the hub, encrypted: "fernet:..." (tracehop.hubkey); a
    # value without the prefix was stored in clear before that, and is encrypted on next import
    token: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HubNumberBlock(Base):
    """Number portability data: who terminates calls to an NPA-NXX (where a trace starts)."""

    __tablename__ = "hub_number_blocks"

    npa_nxx: Mapped[str] = mapped_column(String(6), primary_key=True)
    provider: Mapped[str] = mapped_column(String(200))
    use: Mapped[str | None] = mapped_column(String(100))


class HubTrace(Base):
    """One traceback: the reported call, where it started and how it ended."""

    __tablename__ = "hub_traces"

    trace_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(200))  # e.g. the complaint id
    caller: Mapped[str] = mapped_column(String(100))  # as reported
    called: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # UTC
    on_date: Mapped[date | None] = mapped_column(Date)  # date-only reports
    description: Mapped[str | None] = mapped_column(Text)
    start_provider: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # origin | not_found | no_response | foreign_entry | not_listed | no_node | loop | no_start
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_provider: Mapped[str | None] = mapped_column(String(200))  # where the trace ended
    outcome_customer: Mapped[str | None] = mapped_column(String(200))  # customer/upstream named
    gateway: Mapped[str | None] = mapped_column(String(200))  # first US provider after abroad
    reason: Mapped[str | None] = mapped_column(Text)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    # the orig_id whose known originating provider was asked directly (the STIR/SHAKEN
    # shortcut, tracebacks/shortcut.py); None for a trace walked hop by hop
    shortcut_via: Mapped[str | None] = mapped_column(String(200))


class HubHop(Base):
    """One provider asked during a trace, with its answer as received."""

    __tablename__ = "hub_hops"

    trace_id: Mapped[str] = mapped_column(
        String(80), ForeignKey("hub_traces.trace_id"), primary_key=True
    )
    hop: Mapped[int] = mapped_column(Integer, primary_key=True)  # 1 = the first provider asked
    provider: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str] = mapped_column(String(200))
    asked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the hop deadline
    # received_from | origin | provider_not_listed | not_found | no_response
    answer: Mapped[str] = mapped_column(String(30))
    upstream: Mapped[str | None] = mapped_column(String(200))
    confidence: Mapped[float | None] = mapped_column(Float)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    http_status: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict | None] = mapped_column(JSON)  # the node's answer JSON, as received


class HubOrigin(Base):
    """Which provider an orig_id (the PASSporT ``origid``) belongs to: learned from traces that
    ended at an origin with a fully attested (A) match, or imported from a provider's list."""

    __tablename__ = "hub_origins"

    orig_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    provider: Mapped[str] = mapped_column(String(200))
    trace_id: Mapped[str | None] = mapped_column(String(80))  # learned from; None = imported
    learned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    times_seen: Mapped[int] = mapped_column(Integer)


# --- detection (issue 5) ---------------------------------------------------------------------


class DetectionRun(Base):
    """One detection run over the lake: its window and settings."""

    __tablename__ = "detection_runs"

    run_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    min_calls: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    customers: Mapped[int] = mapped_column(Integer)  # customers with traffic in the window
    flagged: Mapped[int] = mapped_column(Integer)  # customers flagged
    # where it ran: duckdb | spark (migration 0013)
    engine: Mapped[str] = mapped_column(String(20), default="duckdb", server_default="duckdb")


class DetectionFinding(Base):
    """One finding of a run (customer, caller ID or campaign), with its evidence."""

    __tablename__ = "detection_findings"

    run_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("detection_runs.run_id"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # customer | caller_id | campaign
    subject: Mapped[str] = mapped_column(Text)
    flagged: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    categories: Mapped[list] = mapped_column(JSON)
    evidence: Mapped[dict] = mapped_column(JSON)
    first_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ComplaintRow(Base):
    """A complaint about a call this provider carried, and the customer it came from
    (looked up in the lake like a traceback request)."""

    __tablename__ = "complaints"

    complaint_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    caller: Mapped[str] = mapped_column(String(100))  # as reported
    called: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # UTC
    on_date: Mapped[date | None] = mapped_column(Date)  # date-only reports
    description: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answer: Mapped[str] = mapped_column(String(30))  # the lookup's hop answer
    upstream: Mapped[str | None] = mapped_column(String(200), index=True)
    confidence: Mapped[float] = mapped_column(Float)


# --- cases: notices from the Commission and what was done about them (issue 13) --------------


class CaseRow(Base):
    """A case: one notice (a letter from the Commission, or a hub's drafted notice), and its
    state. Status moves received -> investigating -> mitigated -> reported -> closed."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    notice_kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(Text)
    letter_date: Mapped[date | None] = mapped_column(Date)
    recipient: Mapped[str] = mapped_column(Text)  # the notified provider as the letter names it
    recipient_detail: Mapped[dict] = mapped_column(JSON)
    sender: Mapped[dict] = mapped_column(JSON)
    role: Mapped[str | None] = mapped_column(String(20))
    rules: Mapped[list] = mapped_column(JSON)
    problems: Mapped[list] = mapped_column(JSON)
    source_name: Mapped[str | None] = mapped_column(Text)
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)  # the letter as read (PDFs: the extracted text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CaseDeadlineRow(Base):
    __tablename__ = "case_deadlines"

    case_id: Mapped[str] = mapped_column(String(120), ForeignKey("cases.case_id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    zone: Mapped[str] = mapped_column(String(64))
    basis: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str] = mapped_column(String(20))
    computed: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stated: Mapped[date | None] = mapped_column(Date)
    met_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    met_by: Mapped[str | None] = mapped_column(Text)  # what met it (rules in place, a report)


class CaseNoticeRow(Base):
    """One row of the notice's Attachment A, and what the investigation found about it."""

    __tablename__ = "case_rows"

    case_id: Mapped[str] = mapped_column(String(120), ForeignKey("cases.case_id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer: Mapped[str] = mapped_column(Text)  # as the letter writes it, or "No Response"
    call_date: Mapped[date] = mapped_column(Date)
    caller_id: Mapped[str | None] = mapped_column(String(100))
    called_number: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    violation: Mapped[str | None] = mapped_column(Text)
    no_response: Mapped[bool] = mapped_column(Boolean)
    matched_customer: Mapped[str | None] = mapped_column(String(200))  # our customer id
    match_score: Mapped[float | None] = mapped_column(Float)
    match_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    investigation: Mapped[dict | None] = mapped_column(JSON)


class CaseEventRow(Base):
    """The case's timeline: everything done, by whom, when (append-only)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(String(120), ForeignKey("cases.case_id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON)


class CaseLinkRow(Base):
    """What a case points at: findings, screening rules, tracebacks, reports written."""

    __tablename__ = "case_links"

    case_id: Mapped[str] = mapped_column(String(120), ForeignKey("cases.case_id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # finding|rule|trace|report
    ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- users and API tokens, with roles (issue 16) ----------------------------------------------


class UserRow(Base):
    """A person who uses the dashboard."""

    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(Text)  # Argon2id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiTokenRow(Base):
    """A token for a machine (the hub, a switch, a script): only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # tk- + 16 hex of the hash
    name: Mapped[str] = mapped_column(String(100), index=True)
    role: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """Every write through the API or the dashboard: who, when, what (append-only)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    who: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(120))
    target: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[int] = mapped_column(Integer)


# --- screening (issue 12) ---------------------------------------------------------------------


class ScreenRule(Base):
    """A screening rule (tracehop.screening.rules). Never deleted: removing one stamps
    ``removed_at``, so the table is also the history of what was enforced when."""

    __tablename__ = "screen_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # customer | provider | caller_id | caller_prefix | called | class | rate
    kind: Mapped[str] = mapped_column(String(20), index=True)
    value: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(10))  # block | allow | alert (rate rules)
    sip_code: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(10))  # enforce | monitor
    reason: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    finding: Mapped[str | None] = mapped_column(String(100))  # detection finding RUN_ID:SEQ
    case_id: Mapped[str | None] = mapped_column(String(100))  # a case (issue 13)
    params: Mapped[dict | None] = mapped_column(JSON)  # rate rules: subject, limit, window
    # a provider-wide block rests on a recorded notice to the Commission (47 CFR 64.1200(k)(4))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("screen_provider_notices.id"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(200))


class ScreenProviderNotice(Base):
    """The notice this provider sent the Commission before blocking a notified provider's
    traffic: 47 CFR 64.1200(k)(4) asks for it first, with a brief summary of the basis."""

    __tablename__ = "screen_provider_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(200), index=True)
    sent_on: Mapped[date] = mapped_column(Date)
    summary: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScreenDnoList(Base):
    """A Do-Not-Originate list; its numbers are in ``screen_dno_chunks``, written in the same
    transaction as this row (an import is all or nothing)."""

    __tablename__ = "screen_dno_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[str] = mapped_column(Text)  # the file's name as given
    numbers: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the sorted numbers
    author: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ScreenDnoChunk(Base):
    """Part of a DNO list: sorted E.164 digits as little-endian uint64s."""

    __tablename__ = "screen_dno_chunks"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("screen_dno_lists.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ScreenAlert(Base):
    """A velocity trigger that fired (rate rules): stored whether it blocked or only alerted."""

    __tablename__ = "screen_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    rule_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(10))  # alert | block
    subject_kind: Mapped[str] = mapped_column(String(20))  # customer | caller_id | called
    subject: Mapped[str] = mapped_column(String(200))
    # rate: calls counted and the limit; short_share: short calls and answered calls
    count: Mapped[int] = mapped_column(Integer)
    limit: Mapped[int] = mapped_column(Integer)
    window_seconds: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)  # what crossed which limit, in words
    webhook_status: Mapped[str | None] = mapped_column(String(100))


class ScreenState(Base):
    """One row per screening data set (``rules``, ``dno``) with a version bumped in the same
    transaction as every change: a running screener polls it to know when to reload."""

    __tablename__ = "screen_state"

    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
