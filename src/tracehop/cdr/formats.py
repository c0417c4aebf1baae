"""CDR format presets: how each switch writes its call records, mapped to the canonical columns.

A preset says how to read the file (header row or a fixed field order) and gives one SQL select
list that turns the raw text columns into the *mapped* columns that ``tracehop.cdr.sql`` then
parses and checks the same way for every format:

``call_id_raw, start_raw, duration_raw, caller_raw, called_raw, upstream_raw, downstream_raw,
disposition_raw, sip_code_raw, attest_raw, orig_id_raw, identity_raw, extra``

A dict registry is enough (STYLE.md: no plugin framework before a second plugin exists).
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tracehop.errors import FormatError
from tracehop.sqltext import lit

CANONICAL_COLUMNS: tuple[str, ...] = (
    "call_id",
    "start",
    "duration",
    "caller",
    "called",
    "caller_raw",
    "called_raw",
    "upstream",
    "downstream",
    "disposition",
    "sip_code",
    "attest",
    "orig_id",
    "identity",
    "identity_status",
    "provider",
    "source_file",
    "source_line",
    "extra",
)

DISPOSITIONS: tuple[str, ...] = ("answered", "no_answer", "busy", "cancelled", "failed", "blocked")


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Preset:
    """One CDR format."""

    name: str
    description: str
    header: bool
    # Headerless formats: the field order, possibly several accepted widths.
    field_orders: tuple[tuple[str, ...], ...] = ()
    # Header formats: columns that must be present / that are understood.
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # Builds the mapped select list from the file's column names.
    select: Callable[[list[str]], str] = field(default=lambda cols: "")
    # Kamailio: rows are SIP transactions, paired into calls by Call-ID.
    transactions: bool = False


# --- generic ---------------------------------------------------------------------------------

GENERIC_REQUIRED = ("start", "caller", "called", "upstream")
GENERIC_OPTIONAL = (
    "call_id",
    "duration",
    "downstream",
    "disposition",
    "sip_code",
    "attest",
    "orig_id",
    "identity",
)


def _extra_json(columns: list[str]) -> str:
    """Columns tracehop does not know are kept, as a JSON object in ``extra``."""
    if not columns:
        return "NULL"
    pairs = ", ".join(f"{lit(c)}, {q(c)}" for c in columns)
    return f"json_object({pairs})::VARCHAR"


def _col_or_null(cols: list[str], name: str) -> str:
    return q(name) if name in cols else "NULL"


def _generic_select(cols: list[str]) -> str:
    known = set(GENERIC_REQUIRED) | set(GENERIC_OPTIONAL)
    extra = [c for c in cols if c not in known]
    return f"""
        {_col_or_null(cols, "call_id")} AS call_id_raw,
        {q("start")} AS start_raw,
        {_col_or_null(cols, "duration")} AS duration_raw,
        {q("caller")} AS caller_raw,
        {q("called")} AS called_raw,
        {q("upstream")} AS upstream_raw,
        {_col_or_null(cols, "downstream")} AS downstream_raw,
        {_col_or_null(cols, "disposition")} AS disposition_raw,
        {_col_or_null(cols, "sip_code")} AS sip_code_raw,
        {_col_or_null(cols, "attest")} AS attest_raw,
        {_col_or_null(cols, "orig_id")} AS orig_id_raw,
        {_col_or_null(cols, "identity")} AS identity_raw,
        {_extra_json(extra)} AS extra"""


# --- FreeSWITCH mod_cdr_csv, default template "example" --------------------------------------
# conf/autoload_configs/cdr_csv.conf.xml: <param name="default-template" value="example"/>
# "${caller_id_name}","${caller_id_number}","${destination_number}","${context}",
# "${start_stamp}","${answer_stamp}","${end_stamp}","${duration}","${billsec}",
# "${hangup_cause}","${uuid}","${bleg_uuid}","${accountcode}","${read_codec}","${write_codec}"
FREESWITCH_FIELDS = (
    "caller_id_name",
    "caller_id_number",
    "destination_number",
    "context",
    "start_stamp",
    "answer_stamp",
    "end_stamp",
    "duration",
    "billsec",
    "hangup_cause",
    "uuid",
    "bleg_uuid",
    "accountcode",
    "read_codec",
    "write_codec",
)

# Q.850 hangup cause -> (disposition, SIP code), after RFC 3398 section 8.2.6 / RFC 4497.
FREESWITCH_CAUSES: dict[str, tuple[str, int]] = {
    "NORMAL_CLEARING": ("answered", 200),
    "NO_ANSWER": ("no_answer", 480),
    "NO_USER_RESPONSE": ("no_answer", 408),
    "USER_BUSY": ("busy", 486),
    "ORIGINATOR_CANCEL": ("cancelled", 487),
    "CALL_REJECTED": ("blocked", 603),
    "UNALLOCATED_NUMBER": ("failed", 404),
    "NO_ROUTE_DESTINATION": ("failed", 404),
    "NUMBER_CHANGED": ("failed", 410),
    "INVALID_NUMBER_FORMAT": ("failed", 484),
    "NORMAL_TEMPORARY_FAILURE": ("failed", 503),
    "NORMAL_CIRCUIT_CONGESTION": ("failed", 503),
    "SWITCH_CONGESTION": ("failed", 503),
    "RECOVERY_ON_TIMER_EXPIRE": ("failed", 504),
    "SERVICE_UNAVAILABLE": ("failed", 503),
    "DESTINATION_OUT_OF_ORDER": ("failed", 502),
    "INCOMPATIBLE_DESTINATION": ("failed", 488),
    "NORMAL_UNSPECIFIED": ("failed", 480),
}


def _case_map(expr: str, mapping: dict[str, str | int], default: str = "NULL") -> str:
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(str(v))}" for k, v in mapping.items())
    return f"(CASE {expr} {whens} ELSE {default} END)"


def _freeswitch_select(cols: list[str]) -> str:
    cause = "upper(trim(hangup_cause))"
    disp = _case_map(cause, {k: v[0] for k, v in FREESWITCH_CAUSES.items()}, "'failed'")
    code = _case_map(cause, {k: v[1] for k, v in FREESWITCH_CAUSES.items()})
    # NORMAL_CLEARING with billsec 0 was cleared before answer: a cancelled attempt.
    disposition = (
        f"CASE WHEN {cause} = 'NORMAL_CLEARING' AND coalesce(try_cast(billsec AS DOUBLE), 0) = 0 "
        f"THEN 'cancelled' ELSE {disp} END"
    )
    return f"""
        uuid AS call_id_raw,
        start_stamp AS start_raw,
        billsec AS duration_raw,
        caller_id_number AS caller_raw,
        destination_number AS called_raw,
        accountcode AS upstream_raw,
        NULL AS downstream_raw,
        {disposition} AS disposition_raw,
        CASE WHEN ({disposition}) = 'cancelled' AND {cause} = 'NORMAL_CLEARING' THEN '487'
             ELSE {code} END AS sip_code_raw,
        NULL AS attest_raw,
        NULL AS orig_id_raw,
        NULL AS identity_raw,
        json_object('caller_id_name', caller_id_name, 'context', context,
                    'hangup_cause', hangup_cause, 'bleg_uuid', bleg_uuid)::VARCHAR AS extra"""


# --- Asterisk cdr_csv Master.csv (no header) ---------------------------------------------------
# cdr_csv.c build_csv_record(): accountcode, src, dst, dcontext, clid, channel, dstchannel,
# lastapp, lastdata, start, answer, end, duration, billsec, disposition, amaflags,
# then uniqueid if loguniqueid=yes, then userfield if loguserfield=yes.
ASTERISK_BASE = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
)
ASTERISK_ORDERS = (
    ASTERISK_BASE,
    (*ASTERISK_BASE, "uniqueid"),
    (*ASTERISK_BASE, "uniqueid", "userfield"),
)
ASTERISK_DISPOSITIONS = {
    "ANSWERED": "answered",
    "NO ANSWER": "no_answer",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "failed",
}


def _peer(channel_expr: str) -> str:
    """'SIP/caprus-0000a1b2' or 'PJSIP/caprus-00000001' -> 'caprus' (the trunk's peer name)."""
    return f"nullif(regexp_extract({channel_expr}, '^[^/]+/(.+)-[0-9a-fA-F]+$', 1), '')"


def _asterisk_select(cols: list[str]) -> str:
    uniqueid = "uniqueid" if "uniqueid" in cols else "NULL"
    userfield = "userfield" if "userfield" in cols else "NULL"
    disp = _case_map("upper(trim(disposition))", ASTERISK_DISPOSITIONS, "lower(disposition)")
    return f"""
        {uniqueid} AS call_id_raw,
        start AS start_raw,
        billsec AS duration_raw,
        src AS caller_raw,
        dst AS called_raw,
        coalesce(nullif(trim(accountcode), ''), {_peer("channel")}) AS upstream_raw,
        {_peer("dstchannel")} AS downstream_raw,
        {disp} AS disposition_raw,
        NULL AS sip_code_raw,
        NULL AS attest_raw,
        NULL AS orig_id_raw,
        NULL AS identity_raw,
        json_object('clid', clid, 'dcontext', dcontext, 'channel', channel,
                    'dstchannel', dstchannel, 'lastapp', lastapp, 'amaflags', amaflags,
                    'userfield', {userfield})::VARCHAR AS extra"""


# --- Kamailio acc (db_extra of the default kamailio.cfg, exported as CSV with a header) -------
# acc table: method, from_tag, to_tag, callid, sip_code, sip_reason, time, and the default
# config's db_extra "src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;
# dst_domain=$rd". Optional extras tracehop understands: src_trunk, dst_trunk (trunk names;
# otherwise the IPs stand for the upstream/downstream), dst_ip, attest, orig_id, identity.
# One row per SIP transaction: the INVITE row is the call (its code says how it ended); the
# BYE row with the same Call-ID gives the answered duration.
KAMAILIO_REQUIRED = ("method", "callid", "sip_code", "time", "src_user", "src_ip")
KAMAILIO_OPTIONAL = (
    "id",
    "from_tag",
    "to_tag",
    "sip_reason",
    "src_domain",
    "dst_ouser",
    "dst_user",
    "dst_domain",
    "dst_ip",
    "src_trunk",
    "dst_trunk",
    "attest",
    "orig_id",
    "identity",
)


def _kamailio_select(cols: list[str]) -> str:
    def c(name: str) -> str:
        return q(name) if name in cols else "NULL"

    called = (
        "coalesce(nullif(trim(dst_ouser), ''), dst_user)" if "dst_ouser" in cols else c("dst_user")
    )
    return f"""
        callid AS call_id_raw,
        "time" AS start_raw,
        NULL AS duration_raw,
        src_user AS caller_raw,
        {called} AS called_raw,
        coalesce(nullif(trim({c("src_trunk")}), ''), src_ip) AS upstream_raw,
        coalesce(nullif(trim({c("dst_trunk")}), ''), {c("dst_ip")}) AS downstream_raw,
        NULL AS disposition_raw,
        sip_code AS sip_code_raw,
        {c("attest")} AS attest_raw,
        {c("orig_id")} AS orig_id_raw,
        {c("identity")} AS identity_raw,
        json_object('sip_reason', {c("sip_reason")}, 'src_domain', {c("src_domain")},
                    'dst_domain', {c("dst_domain")})::VARCHAR AS extra"""


PRESETS: dict[str, Preset] = {
    "generic": Preset(
        name="generic",
        description="CSV with a header row; required start, caller, called, upstream",
        header=True,
        required=GENERIC_REQUIRED,
        optional=GENERIC_OPTIONAL,
        select=_generic_select,
    ),
    "freeswitch": Preset(
        name="freeswitch",
        description="FreeSWITCH mod_cdr_csv, default 'example' template (15 fields, no header)",
        header=False,
        field_orders=(FREESWITCH_FIELDS,),
        select=_freeswitch_select,
    ),
    "asterisk": Preset(
        name="asterisk",
        description="Asterisk cdr_csv Master.csv (16-18 fields, no header)",
        header=False,
        field_orders=ASTERISK_ORDERS,
        select=_asterisk_select,
    ),
    "kamailio": Preset(
        name="kamailio",
        description="Kamailio acc records (INVITE/BYE rows) as CSV with a header",
        header=True,
        required=KAMAILIO_REQUIRED,
        optional=KAMAILIO_OPTIONAL,
        select=_kamailio_select,
        transactions=True,
    ),
    "parquet": Preset(
        name="parquet",
        description="Parquet with the canonical columns",
        header=True,
        required=("start", "caller", "called", "upstream"),
    ),
}

FORMAT_NAMES = (*PRESETS.keys(),)


# --- reading the first line, detection ---------------------------------------------------------


def open_text(path: Path) -> io.TextIOBase:
    """Open a CDR file as text, gzip or not (by magic bytes, not by name)."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    raw = gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def first_row(path: Path) -> list[str]:
    """The first non-blank record of a text file, split as CSV."""
    try:
        with open_text(path) as fh:
            for line in fh:
                if line.strip():
                    return next(csv.reader([line]))
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FormatError(f"cannot read {path}: {exc}") from exc
    return []


def header_line(path: Path) -> int:
    """The 1-based number of the first non-blank line (where a header is)."""
    try:
        with open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    return number
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise FormatError(f"cannot read {path}: {exc}") from exc
    return 1


def normalise_header(cells: list[str]) -> list[str]:
    return [c.strip().lstrip("\ufeff").strip().lower() for c in cells]


def detect(path: Path) -> str:
    """Tell the format of a CDR file from its name, header or shape."""
    if path.suffix.lower() == ".parquet":
        return "parquet"
    row = first_row(path)
    if not row:
        raise FormatError(f"{path} is empty: no CDR rows to ingest")
    names = set(normalise_header(row))
    if {"method", "callid", "sip_code"} <= names:
        return "kamailio"
    if set(GENERIC_REQUIRED) <= names:
        return "generic"
    width = len(row)
    if width == len(FREESWITCH_FIELDS):
        return "freeswitch"
    if width in {len(o) for o in ASTERISK_ORDERS}:
        return "asterisk"
    raise FormatError(
        f"cannot tell the format of {path}: the first line has {width} fields and no known "
        f"header; pass --format ({'|'.join(FORMAT_NAMES)})"
    )


def columns_for(preset: Preset, path: Path) -> list[str]:
    """The raw column names of ``path`` read as ``preset``; checks the header or width."""
    row = first_row(path)
    if not row:
        raise FormatError(f"{path} is empty: no CDR rows to ingest")
    if preset.header:
        cols = normalise_header(row)
        missing = [c for c in preset.required if c not in cols]
        if missing:
            raise FormatError(
                f"{path} is not a {preset.name} CDR file: header lacks "
                f"{', '.join(missing)} (found: {', '.join(cols[:12])})"
            )
        dupes = sorted({c for c in cols if cols.count(c) > 1})
        if dupes:
            raise FormatError(f"{path}: header names {', '.join(dupes)} more than once")
        return cols
    for order in preset.field_orders:
        if len(order) == len(row):
            return list(order)
    widths = "/".join(str(len(o)) for o in preset.field_orders)
    raise FormatError(
        f"{path} is not a {preset.name} CDR file: its first row has {len(row)} fields, "
        f"expected {widths}"
    )
