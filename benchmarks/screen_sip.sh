#!/usr/bin/env bash
# SIP redirect benchmark (issue 12): SIPp (Debian package sip-tester) sends INVITEs at increasing
# rates straight to tracehop's redirect server (tracehop screen serve --sip) on loopback and,
# in the same run, to Kamailio answering the same INVITEs by itself (deploy/kamailio/kamailio.cfg
# with BASELINE: a stateless 302, no screening). For each rate: calls attempted, failed, and the
# p50/p99 response time (SIPp's -trace_rtt, millisecond resolution). The result line per server
# is the highest rate with 0 failed calls and p99 < 10 ms. Goal: >= 5,000 calls/s through the
# redirect server. Figures go to docs/performance.md ("Screening"); nothing here is a test.
#
#   benchmarks/screen_sip.sh [SECONDS_PER_RATE] [RATES...]
#   e.g. benchmarks/screen_sip.sh 10 1000 2000 4000 6000 8000
#
# The redirect server holds 10,000 caller-ID rules, 1,000 customer rules and a 100,000-number
# DNO list; the calls come from an allowed customer and caller ID (each is screened in full and
# answered 302). Loopback only; every process it starts is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RATE=${1:-10}
shift || true
RATES=("$@")
[ ${#RATES[@]} -gt 0 ] || RATES=(1000 2000 3000 4000 5000 6000 8000 10000)
PY=${PY:-$PWD/.venv/bin/python}
command -v sipp >/dev/null || { echo "sipp missing: apt-get install sip-tester"; exit 1; }
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
[ -x "$KAMAILIO" ] || { echo "kamailio missing: apt-get install kamailio"; exit 1; }

WORK=$(mktemp -d -t th-bench-sip-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- the redirect server, with rules ---------------------------------------------------------
HOME_DIR="$WORK/home"
"$PY" - "$HOME_DIR" <<'EOF'
import random, sys
from pathlib import Path
from tracehop.screening import state
from tracehop.screening.dno import import_dno
from tracehop.screening.rules import Emergency, make_rule
from tracehop.settings import load_settings
from tracehop.store import open_store

home = Path(sys.argv[1])
rng = random.Random(5)
num = lambda: f"+1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
E = Emergency()
with open_store(load_settings(home=home)) as store:
    dno = home.parent / "dno.txt"
    dno.write_text("".join(num() + "\n" for _ in range(100_000)))
    import_dno(store, dno, name="bench", author="bench")
    rules = [make_rule("class", "dno", reason="DNO", emergency=E)]
    rules += [make_rule("caller_id", c, reason="b", emergency=E) for c in {num() for _ in range(10_000)}]
    rules += [make_rule("customer", f"cust-{i}", reason="b", emergency=E) for i in range(1000)]
    state.add_rules(store, rules)
EOF
SCREEN=$(free_port)
env -u TRACEHOP_HOME "$PY" -m tracehop --home "$HOME_DIR" screen serve --sip "127.0.0.1:$SCREEN" --workers "${WORKERS:-1}" \
  >"$WORK/screen.log" 2>&1 &
PIDS+=($!)

# --- Kamailio answering by itself -------------------------------------------------------------
KAM=$(free_port)
mkdir -p "$WORK/kam"
"$KAMAILIO" -f deploy/kamailio/kamailio.cfg -DD -E -Y "$WORK/kam" -P "$WORK/kam/k.pid" -m 256 -M 16 \
  -A BASELINE -A "LISTEN=udp:127.0.0.1:$KAM" -A CHILDREN=2 >"$WORK/kamailio.log" 2>&1 &
PIDS+=($!)
sleep 3

run_rate() { # TARGET_PORT RATE -> "attempted failed p50 p99"
  local port=$1 rate=$2 dir
  dir=$(mktemp -d -p "$WORK")
  local calls=$((rate * SECONDS_PER_RATE))
  (cd "$dir" && timeout $((SECONDS_PER_RATE * 4 + 30)) sipp "127.0.0.1:$port" -sf "$OLDPWD/tests/sipp/redirect.xml" \
      -s +13125551234 -key uas 127.0.0.1:5090 -key caller +14155551000 -key upstream good-trunk \
      -i 127.0.0.1 -p "$(free_port)" -r "$rate" -rp 1000 -m "$calls" -l $((rate * 2)) \
      -recv_timeout 2000 -trace_rtt -rtt_freq 1000 -trace_stat -stf stat.csv -fd 1 -nostdin \
      >/dev/null 2>&1) || true
  "$PY" - "$dir" "$calls" <<'EOF'
import csv, glob, sys
d, calls = sys.argv[1], int(sys.argv[2])
rows = list(csv.reader(open(f"{d}/stat.csv"), delimiter=";"))
head, last = rows[0], rows[-1]
ok, failed = int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])
failed += calls - ok - failed  # calls never finished count as failed
times = sorted(float(r[1]) for f in glob.glob(f"{d}/*_rtt.csv") for r in list(csv.reader(open(f), delimiter=";"))[1:])
p = lambda q: times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")
print(calls, failed, p(0.5), p(0.99))
EOF
}

echo "machine: $(nproc) cores; SIPp $(sipp -v 2>/dev/null | grep -o 'v[0-9.]*' | head -1), $( "$KAMAILIO" -v | head -1 | cut -d' ' -f2-3); ${SECONDS_PER_RATE} s per rate"
printf "%-28s %8s %9s %8s %9s %9s\n" server rate attempted failed "p50 ms" "p99 ms"
declare -A BEST=( [tracehop]=0 [kamailio]=0 )
for rate in "${RATES[@]}"; do
  for server in tracehop kamailio; do
    port=$SCREEN; [ "$server" = kamailio ] && port=$KAM
    read -r attempted failed p50 p99 < <(run_rate "$port" "$rate")
    printf "%-28s %8s %9s %8s %9s %9s\n" "$server" "$rate" "$attempted" "$failed" "$p50" "$p99"
    if [ "$failed" = 0 ] && "$PY" -c "import sys; sys.exit(0 if float('$p99') < 10 else 1)"; then
      [ "$rate" -gt "${BEST[$server]}" ] && BEST[$server]=$rate
    fi
  done
done
echo "highest rate with 0 failed calls and p99 < 10 ms: tracehop redirect server ${BEST[tracehop]} calls/s," \
  "Kamailio alone ${BEST[kamailio]} calls/s (ratio $("$PY" -c "print(f'{${BEST[tracehop]} / max(${BEST[kamailio]}, 1):.2f}')"))"
