"""Kamailio acc memory benchmark: ``tracehop ingest --format kamailio`` of a generated acc
table (CSV, one row per SIP transaction) whose INVITE rows carry a STIR/SHAKEN Identity
header of about 500 bytes, under a memory limit.

The file, per call: 20 % an INVITE challenged with 407 first (the same Call-ID and From tag
sent again with credentials), 2 % a 401 never answered; then the INVITE's final row (55 %
200, then 486, 487, 480, 603); a BYE row for each answered call but 1 in 55; 0.5 % of INVITEs without a
caller (rejected). Rows in time order, as Kamailio writes them.

Runs ``tracehop ingest FILE --format kamailio --json`` in a subprocess with
``TRACEHOP_MEMORY_LIMIT`` set (``--limit``, repeatable) and prints its wall time, CPU seconds
(user + system) and peak RSS (max RSS of the child, as ``/usr/bin/time -v`` gives it), or the
error. Not a test: figures go to docs/performance.md ("Kamailio acc files: memory").

    python benchmarks/acc.py [--calls N] [--limit auto] [--limit 1GB] [--file FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

HEADER = (
    "method,from_tag,to_tag,callid,sip_code,sip_reason,time,src_user,src_domain,src_ip,"
    "dst_ouser,dst_user,dst_domain,src_trunk,dst_trunk,attest,orig_id,identity"
)
# A PASSporT's protected header (ES256, shaken, x5u), as base64url.
JWT_HEADER = (
    "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0cy5"
    "leGFtcGxlLm5ldC9zaGFrZW4ucGVtIn0"
)

GEN_SQL = """
COPY (
  WITH c AS (
    SELECT i,
      hash(i * 31) % 100 AS outcome, hash(i * 37) % 100 AS auth,
      TIMESTAMP '2026-01-05' + to_seconds(i * 86400 // {calls}) AS t0,
      (hash(i * 41) % 300)::INT + 1 AS talk,
      (2000000000 + hash(i * 7) % 8000000000)::VARCHAR AS caller,
      (2000000000 + hash(i * 11) % 8000000000)::VARCHAR AS called,
      'cust-' || (hash(i * 13) % 300) AS trunk,
      printf('%x-%d@198.51.100.7', i, hash(i) % 100000) AS callid
    FROM range({calls}) t(i)
  ), r AS (
    -- j = 0: a 401/407 challenge; 1: the INVITE's final row; 2: the BYE
    SELECT c.*, j FROM c, range(3) k(j)
    WHERE (j = 0 AND auth < 22) OR (j = 1 AND auth >= 2) OR (j = 2 AND outcome < 54 AND auth >= 2)
  ), rows AS (
    SELECT *,
      CASE WHEN j = 0 THEN (CASE WHEN auth < 2 THEN 401 ELSE 407 END)
           WHEN j = 2 THEN 200 WHEN outcome < 55 THEN 200 WHEN outcome < 70 THEN 486
           WHEN outcome < 85 THEN 487 WHEN outcome < 95 THEN 480 ELSE 603 END AS code,
      CASE WHEN j = 2 THEN t0 + to_seconds(1 + talk) WHEN j = 1 AND auth < 22 THEN t0 + to_seconds(1)
           ELSE t0 END AS ts
    FROM r
  )
  SELECT
    CASE WHEN j = 2 THEN 'BYE' ELSE 'INVITE' END AS method,
    'ft' || i AS from_tag, CASE WHEN code = 200 THEN 'tt' || i ELSE '' END AS to_tag,
    callid, code AS sip_code,
    CASE code WHEN 200 THEN 'OK' WHEN 401 THEN 'Unauthorized'
         WHEN 407 THEN 'Proxy Authentication Required' WHEN 486 THEN 'Busy Here'
         WHEN 487 THEN 'Request Terminated' WHEN 480 THEN 'Temporarily Unavailable'
         ELSE 'Decline' END AS sip_reason,
    strftime(ts, '%Y-%m-%d %H:%M:%S') AS time,
    CASE WHEN j = 2 THEN called WHEN hash(i * 43) % 200 = 0 THEN '' ELSE caller END AS src_user,
    'example.net' AS src_domain, '198.51.100.' || (hash(i * 47) % 250) AS src_ip,
    CASE WHEN j = 2 THEN caller ELSE called END AS dst_ouser,
    CASE WHEN j = 2 THEN caller ELSE called END AS dst_user,
    'example.com' AS dst_domain, CASE WHEN j = 2 THEN '' ELSE trunk END AS src_trunk,
    'carrier-' || (hash(i * 53) % 20) AS dst_trunk,
    CASE WHEN j = 2 THEN '' ELSE ['A', 'B', 'C'][(1 + hash(i * 59) % 3)::BIGINT] END AS attest,
    CASE WHEN j = 2 THEN '' ELSE md5(trunk) END AS orig_id,
    CASE WHEN j = 2 THEN '' ELSE '{jwt_header}.' || to_base64(encode(
        '{{"attest":"A","dest":{{"tn":["' || called || '"]}},"iat":'
        || epoch(t0)::BIGINT || ',"orig":{{"tn":"' || caller || '"}},"origid":"'
        || md5(trunk) || '"}}')) || '.' || md5(callid) || md5(i::VARCHAR) || left(md5(ts::VARCHAR), 22)
        || ';info=<https://certs.example.net/shaken.pem>;alg=ES256;ppt=shaken' END AS identity
  FROM rows ORDER BY ts, i, j
) TO '{path}' (HEADER, DELIMITER ',', QUOTE '"')
"""


def generate(path: Path, calls: int) -> int:
    """Write the acc file of ``calls`` calls; returns its number of lines (header included)."""
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute(GEN_SQL.format(calls=int(calls), path=str(path), jwt_header=JWT_HEADER))
    finally:
        con.close()
    with path.open("rb") as f:
        return sum(1 for _ in f)


def run_cli(path: Path, home: Path, limit: str) -> dict[str, object]:
    """``tracehop ingest`` in a subprocess at this memory limit (a fresh home each time); its
    own rusage (``os.wait4``), as ``/usr/bin/time -v`` reports it."""
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "TRACEHOP_MEMORY_LIMIT": limit}
    cmd = [sys.executable, "-m", "tracehop", "--home", str(home), "ingest", str(path)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*cmd, "--format", "kamailio", "--json"], stdout=out, stderr=err, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    result: dict[str, object] = {
        "limit": limit,
        "wall_s": round(wall, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "max_rss_mb": round(usage.ru_maxrss / 1024),
    }
    if proc.returncode == 0:
        done = json.loads(stdout)
        result.update(rows=done["rows_ingested"], rejected=done["rows_rejected"])
    else:
        result["error"] = (stderr.strip().splitlines() or ["?"])[-1][:300]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--calls", type=int, default=1_500_000)
    ap.add_argument("--limit", action="append", help="TRACEHOP_MEMORY_LIMIT (default: auto)")
    ap.add_argument("--file", type=Path, help="use (or keep) the acc file here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tracehop-acc-"))
    path = args.file or work / "acc.csv"
    try:
        if not path.exists():
            t0 = time.perf_counter()
            lines = generate(path, args.calls)
            print(
                f"generated {lines:,} lines, {path.stat().st_size / 1e9:.2f} GB "
                f"in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
        for limit in args.limit or ["auto"]:
            print(json.dumps(run_cli(path, work / "home", limit)), flush=True)
            print("load", Path("/proc/loadavg").read_text().split()[:3], flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
