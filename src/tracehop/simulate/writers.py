"""Writing the world: each provider's CDR file in its switch's format, and the truth.

Numbers come from numpy; the text is built by DuckDB (multi-threaded, no Python per row) and
appended to the files slice by slice, so memory stays flat at any scale. Output is ordered
explicitly everywhere, so the same seed gives the same bytes.

Timestamps are written in UTC (naive ``YYYY-MM-DD HH:MM:SS`` for the switch formats, ISO with
``Z`` for the generic CSV): ingest needs no ``--timezone``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa

from tracehop.simulate.model import ATTEST, World

GENERIC_HEADER = (
    "call_id,start,caller,called,upstream,downstream,duration,disposition,sip_code,attest,orig_id,"
    "identity"
)
KAMAILIO_HEADER = (
    "id,method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_domain,src_ip,"
    "dst_ouser,dst_user,dst_domain,src_trunk,dst_trunk,attest,orig_id,identity"
)
TRUTH_CALLS_HEADER = (
    "call,start,caller,called,customer,entry_provider,campaign,disposition,duration,attest,"
    "orig_id,hops,path,call_ids"
)
DIRECTORY_HEADER = [
    "id",
    "name",
    "country",
    "roles",
    "rmd_listed",
    "rmd_id",
    "in_consortium",
    "responsive",
    "cdr_format",
    "cdr_file",
    "ocn",
]
CUSTOMERS_HEADER = ["id", "name", "kind", "country", "onboarded", "rmd_id", "notes"]
TRUTH_CUSTOMERS_HEADER = ["id", "provider", "name", "kind", "role", "country", "campaigns"]
TRUTH_CAMPAIGNS_HEADER = [
    "campaign",
    "description",
    "customer",
    "customer_role",
    "entry_provider",
    "entry_provider_kind",
    "entry",
    "cli_strategy",
    "called_strategy",
    "attest",
    "profile",
    "calls_per_day",
    "answer_rate",
    "duration_median",
    "signing",
]


def _ts(expr: str) -> str:
    return f"strftime(make_timestamp(({expr})::BIGINT * 1000000), '%Y-%m-%d %H:%M:%S')"


# The common projection: names, numbers and codes every format needs.
_BASE = """
SELECT h.*, nu.name AS up_name, nu.ip AS up_ip, nd.name AS dn_name, nd.ip AS dn_ip,
    pv.pid, pv.pip, coalesce(o.oid, '') AS orig_id, coalesce(c.cnam, '') AS cnam_s,
    md5(h.call::VARCHAR || ':' || h.prov::VARCHAR || ':' || '{tag}') AS hx,
    lpad(h.cln::VARCHAR, h.cll, '0') AS cl_d,
    h.cd::VARCHAR AS cd_s,
    ['', 'A', 'B', 'C'][h.att + 1] AS att_s,
    [200, 480, 486, 487, 503][h.disp + 1] AS sip
FROM hops h
JOIN names nu ON nu.i = h.up
LEFT JOIN names nd ON nd.i = h.down
JOIN provs pv ON pv.i = h.prov
LEFT JOIN oids o ON o.i = h.oid
LEFT JOIN cnams c ON c.i = h.cnam
"""

_UUID = (
    "substr(hx, 1, 8) || '-' || substr(hx, 9, 4) || '-4' || substr(hx, 14, 3) || '-a' || "
    "substr(hx, 18, 3) || '-' || substr(hx, 21, 12)"
)
# Each switch names calls its own way (a B2BUA never keeps the Call-ID of the leg before it).
CALL_ID_SQL = {
    0: "pid || '-' || call::VARCHAR",
    1: _UUID,
    2: "t::VARCHAR || '.' || call::VARCHAR",
    3: "substr(hx, 17, 16) || '@' || up_ip",
}
_E164 = "CASE WHEN cli THEN '+' || cl_d WHEN cll = 10 THEN '+1' || cl_d ELSE cl_d END"

_LINES = {
    # generic CSV: canonical names, E.164 numbers, ISO UTC times
    0: f"""SELECT prov, t AS tt, call, 0 AS m, concat_ws(',',
            {CALL_ID_SQL[0]}, strftime(make_timestamp(t * 1000000), '%Y-%m-%dT%H:%M:%SZ'),
            {_E164}, '+1' || cd_s, up_name, coalesce(dn_name, ''), dur::VARCHAR,
            ['answered', 'no_answer', 'busy', 'cancelled', 'failed'][disp + 1],
            sip::VARCHAR, att_s, orig_id, ident) || chr(10) AS line FROM b""",
    # FreeSWITCH mod_cdr_csv "example" template: 15 quoted fields, accountcode = upstream
    1: f"""SELECT prov, t AS tt, call, 0 AS m, '"' || concat_ws('","',
            cnam_s, CASE WHEN cli THEN '+' || cl_d ELSE cl_d END, '1' || cd_s, 'public',
            {_ts("t")}, CASE WHEN disp = 0 THEN {_ts("t + ring")} ELSE '' END,
            {_ts("t + ring + dur")}, (ring + dur)::VARCHAR, dur::VARCHAR,
            ['NORMAL_CLEARING', 'NO_ANSWER', 'USER_BUSY', 'ORIGINATOR_CANCEL',
             'NORMAL_TEMPORARY_FAILURE'][disp + 1],
            {_UUID}, '', up_name, 'PCMU', 'PCMU') || '"' || chr(10) AS line FROM b""",
    # Asterisk Master.csv with uniqueid and userfield (18 fields); peers in the channels
    2: f"""SELECT prov, t AS tt, call, 0 AS m,
            '"' || CASE WHEN hop = 0 THEN up_name ELSE '' END || '","'
            || CASE WHEN cli THEN '011' || cl_d ELSE cl_d END || '","' || cd_s
            || '","from-trunk","'
            || CASE WHEN cnam_s = '' THEN '' ELSE '""' || cnam_s || '"" <'
                    || CASE WHEN cli THEN '011' || cl_d ELSE cl_d END || '>' END
            || '","SIP/' || up_name || '-' || substr(hx, 1, 8) || '","'
            || CASE WHEN dn_name IS NULL THEN '' ELSE 'SIP/' || dn_name || '-' || substr(hx, 9, 8)
               END
            || '","Dial","SIP/' || coalesce(dn_name, 'local') || '/' || cd_s || ',60","'
            || {_ts("t")} || '","' || CASE WHEN disp = 0 THEN {_ts("t + ring")} ELSE '' END
            || '","' || {_ts("t + ring + dur")} || '",' || (ring + dur)::VARCHAR || ','
            || dur::VARCHAR || ',"'
            || ['ANSWERED', 'NO ANSWER', 'BUSY', 'NO ANSWER', 'FAILED'][disp + 1]
            || '","DOCUMENTATION","' || {CALL_ID_SQL[2]} || '",""' || chr(10) AS line FROM b""",
}
# Kamailio acc: an INVITE row per call (final code), a BYE row per answered call. The INVITE
# row carries the setup time and the BYE row setup + answered seconds, so that tracehop's
# duration (BYE time - INVITE time) equals the billsec of the other switches on the path.
_KAMAILIO_ROWS = f"""
WITH bk AS (SELECT * FROM b WHERE fmt = 3), k AS (
    SELECT prov, t AS tt, call, 0 AS m, 'INVITE' AS method, sip AS code,
        ['OK', 'Temporarily Unavailable', 'Busy Here', 'Request Terminated',
         'Service Unavailable'][disp + 1] AS reason, * EXCLUDE (prov, call)
    FROM bk
    UNION ALL
    SELECT prov, t + dur AS tt, call, 1 AS m, 'BYE', 200, 'OK', * EXCLUDE (prov, call)
    FROM bk WHERE disp = 0
)
SELECT k.prov, tt, call, m, concat_ws(',',
    (row_number() OVER (PARTITION BY k.prov ORDER BY tt, call, m) + bs.base)::VARCHAR,
    method, substr(hx, 1, 8), CASE WHEN disp = 0 THEN substr(hx, 9, 6) ELSE '' END,
    {CALL_ID_SQL[3]}, code::VARCHAR, reason, {_ts("tt")},
    {_E164}, up_ip, up_ip, '+1' || cd_s, '1' || cd_s, coalesce(dn_ip, pip), up_name,
    coalesce(dn_name, ''), att_s, orig_id, CASE WHEN m = 0 THEN ident ELSE '' END) || chr(10) AS line
FROM k JOIN bases bs ON bs.prov = k.prov
"""


def _write_sorted(
    con: duckdb.DuckDBPyConnection, sql: str, files: dict[int, BinaryIO]
) -> np.ndarray:
    """Run ``sql`` (columns prov, line; ordered by prov) and append each provider's lines to
    its file straight from Arrow's buffer. Returns the row count per provider."""
    table = con.sql(sql).to_arrow_table()
    counts = np.zeros(max(files, default=-1) + 1, dtype=np.int64)
    if table.num_rows == 0:
        return counts
    prov = table.column("prov").to_numpy()
    lines = table.column("line").combine_chunks()
    if isinstance(lines, pa.ChunkedArray):  # pragma: no cover - pyarrow versions differ
        lines = lines.chunk(0)
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    data = memoryview(lines.buffers()[2])
    bounds = np.searchsorted(prov, np.arange(len(counts) + 1))
    for p in range(len(counts)):
        lo, hi = int(bounds[p]), int(bounds[p + 1])
        if hi > lo:
            files[p].write(data[offsets[lo] : offsets[hi]])
            counts[p] = hi - lo
    return counts


class CdrWriter:
    """Appends slices of hop rows to every provider's CDR file, and each call to the truth."""

    def __init__(self, out: Path, world: World, con: duckdb.DuckDBPyConnection) -> None:
        self.world = world
        self.con = con
        self.tag = f"tracehop-sim-{world.seed}"
        cdr_dir = out / "cdrs"
        cdr_dir.mkdir(parents=True, exist_ok=True)
        (out / "truth").mkdir(parents=True, exist_ok=True)
        self.paths: dict[int, Path] = {}
        self.files: dict[int, BinaryIO] = {}
        for p in world.providers:
            path = cdr_dir / f"{p.id}.csv"
            fh = path.open("wb")
            if p.cdr_format == "generic":
                fh.write((GENERIC_HEADER + "\n").encode())
            elif p.cdr_format == "kamailio":
                fh.write((KAMAILIO_HEADER + "\n").encode())
            self.paths[p.idx], self.files[p.idx] = path, fh
        self.truth_path = out / "truth" / "calls.csv"
        self.truth = self.truth_path.open("wb")
        self.truth.write((TRUTH_CALLS_HEADER + "\n").encode())
        self.rows = np.zeros(world.n_providers, dtype=np.int64)  # CDR lines per provider
        self.kamailio_ids = np.zeros(world.n_providers, dtype=np.int64)
        self._dimensions()

    def _dimensions(self) -> None:
        w = self.world
        names = w.names
        ips = [p.ip for p in w.providers] + [c.ip for c in w.customers]
        self.con.register(
            "names_in",
            pa.table({"i": np.arange(len(names), dtype=np.int32), "name": names, "ip": ips}),
        )
        self.con.execute("CREATE OR REPLACE TABLE names AS SELECT * FROM names_in")
        self.con.register(
            "provs_in",
            pa.table(
                {
                    "i": np.arange(w.n_providers, dtype=np.int16),
                    "pid": [p.id for p in w.providers],
                    "pip": [p.ip for p in w.providers],
                }
            ),
        )
        self.con.execute("CREATE OR REPLACE TABLE provs AS SELECT * FROM provs_in")
        self.con.register(
            "oids_in", pa.table({"i": np.arange(len(w.oids), dtype=np.int32), "oid": w.oids})
        )
        self.con.execute("CREATE OR REPLACE TABLE oids AS SELECT * FROM oids_in")
        self.con.register(
            "cnams_in", pa.table({"i": np.arange(len(w.cnams), dtype=np.int16), "cnam": w.cnams})
        )
        self.con.execute("CREATE OR REPLACE TABLE cnams AS SELECT * FROM cnams_in")
        campaigns = [s.campaign for s in w.sources]
        self.con.register(
            "srcs_in",
            pa.table({"i": np.arange(len(campaigns), dtype=np.int32), "campaign": campaigns}),
        )
        self.con.execute("CREATE OR REPLACE TABLE srcs AS SELECT * FROM srcs_in")
        for name in ("names_in", "provs_in", "oids_in", "cnams_in", "srcs_in"):
            self.con.unregister(name)

    def write(self, hops: dict[str, np.ndarray]) -> None:
        """Append one slice (the output of ``traffic.explode_hops``)."""
        con = self.con
        con.register("hops", pa.table(hops))
        con.execute(f"CREATE OR REPLACE TEMP TABLE b AS {_BASE.format(tag=self.tag)}")
        con.register(
            "bases",
            pa.table(
                {
                    "prov": np.arange(self.world.n_providers, dtype=np.int16),
                    "base": self.kamailio_ids,
                }
            ),
        )
        for fmt, sql in _LINES.items():
            self.rows += _write_sorted(
                con,
                f"SELECT prov, line FROM ({sql.replace('FROM b', f'FROM b WHERE fmt = {fmt}')}) "
                "ORDER BY prov, tt, call, m",
                self.files,
            )
        counts = _write_sorted(
            con, f"SELECT prov, line FROM ({_KAMAILIO_ROWS}) ORDER BY prov, tt, call, m", self.files
        )
        self.rows += counts
        self.kamailio_ids += counts
        self._truth()
        con.unregister("bases")
        con.unregister("hops")
        con.execute("DROP TABLE b")

    def _truth(self) -> None:
        ids = " ".join(f"WHEN {k} THEN {v}" for k, v in CALL_ID_SQL.items())
        sql = f"""
        SELECT call, concat_ws(',', call::VARCHAR,
            strftime(make_timestamp(any_value(floor(tc))::BIGINT * 1000000), '%Y-%m-%dT%H:%M:%SZ'),
            any_value({_E164}), '+1' || any_value(cd_s),
            any_value(up_name) FILTER (WHERE hop = 0), any_value(pid) FILTER (WHERE hop = 0),
            any_value(s.campaign),
            any_value(['answered', 'no_answer', 'busy', 'cancelled', 'failed'][disp + 1]),
            any_value(dur)::VARCHAR, max(att_s), max(orig_id), count(*)::VARCHAR,
            string_agg(pid, '>' ORDER BY hop),
            string_agg(CASE fmt {ids} END, '|' ORDER BY hop)) || chr(10) AS line
        FROM b JOIN srcs s ON s.i = b.src GROUP BY call ORDER BY call"""
        table = self.con.sql(sql).to_arrow_table()
        if table.num_rows:
            lines = table.column("line").combine_chunks()
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
            start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
            self.truth.write(memoryview(lines.buffers()[2])[start:end])

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.truth.close()


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """A small CSV (directory, customers, truth tables), LF line ends, fixed order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    path.write_text(buf.getvalue(), encoding="utf-8")


def write_static(out: Path, world: World) -> dict[str, int]:
    """The directory, number blocks, each provider's customers file and the world's truth."""
    _write_directory(out, world)
    _write_number_blocks(out, world)
    n_customers = _write_customer_files(out, world)
    _write_truth_customers(out, world)
    _write_truth_campaigns(out, world)
    return {"customers_rows": n_customers}


def _write_directory(out: Path, world: World) -> None:
    """directory.csv: every provider, its flags and the name of its CDR file."""
    rows: list[list[object]] = [
        [
            p.id,
            p.name,
            p.country,
            ";".join(p.roles),
            str(p.rmd_listed).lower(),
            p.rmd_id,
            str(p.in_consortium).lower(),
            str(p.responsive).lower(),
            p.cdr_format,
            f"cdrs/{p.id}.csv",
            p.ocn,
        ]
        for p in world.providers
    ]
    write_csv(out / "directory.csv", DIRECTORY_HEADER, rows)


def _write_number_blocks(out: Path, world: World) -> None:
    """number_blocks.csv: who owns each NPA-NXX, as a hub's portability data would say."""
    P = world.providers
    blocks = np.nonzero(world.owner >= 0)[0]
    write_csv(
        out / "number_blocks.csv",
        ["npa_nxx", "provider", "use"],
        [
            [
                f"{b:06d}",
                P[int(world.owner[b])].id,
                "subscribers" if P[int(world.owner[b])].kind == "access" else "customer numbers",
            ]
            for b in blocks
        ],
    )


def _write_customer_files(out: Path, world: World) -> int:
    """customers/<provider>.csv: the provider's own customers and, as kind ``carrier``, every
    provider that can send it traffic (so every ``upstream`` in its CDRs is a customer id).
    Returns the rows written in all."""
    P = world.providers
    n_customers = 0
    for p in P:
        rows: list[list[object]] = []
        for c in world.customers:
            if c.provider == p.idx:
                rows.append([c.id, c.name, c.kind, c.country, c.onboarded.isoformat(), "", c.notes])
        for q in world.upstreams_of(p.idx):
            u = P[q]
            rows.append(
                [
                    u.id,
                    u.name,
                    "carrier",
                    u.country,
                    f"{2015 + (q * 7 + p.idx) % 8}-{1 + (q * 5) % 12:02d}-01",
                    u.rmd_id,
                    "interconnected carrier",
                ]
            )
        rows.sort(key=lambda r: str(r[0]))
        n_customers += len(rows)
        write_csv(out / "customers" / f"{p.id}.csv", CUSTOMERS_HEADER, rows)
    return n_customers


def _write_truth_customers(out: Path, world: World) -> None:
    """truth/customers.csv: every customer's role and the campaigns it carries."""
    P = world.providers
    rows: list[list[object]] = [
        [c.id, P[c.provider].id, c.name, c.kind, c.role, c.country, ";".join(c.campaigns)]
        for c in world.customers
    ]
    write_csv(out / "truth" / "customers.csv", TRUTH_CUSTOMERS_HEADER, rows)


def _write_truth_campaigns(out: Path, world: World) -> None:
    """truth/campaigns.csv: where each campaign enters, with its strategies."""
    P = world.providers
    rows: list[list[object]] = []
    for s in world.sources:
        if not s.campaign:
            continue
        spec = next(c for c in world.scenario.campaigns if c.kind == s.campaign)
        c = world.customer_by_idx(s.customer)
        rows.append(
            [
                s.campaign,
                spec.description,
                c.id,
                c.role,
                P[s.provider].id,
                P[s.provider].kind,
                spec.entry,
                spec.cli,
                spec.called,
                ATTEST[s.attest] or "none (gateway signs C)",
                spec.profile,
                f"{s.per_day:g}",
                spec.answer_rate,
                spec.duration_median,
                spec.signing,
            ]
        )
    write_csv(out / "truth" / "campaigns.csv", TRUTH_CAMPAIGNS_HEADER, rows)
