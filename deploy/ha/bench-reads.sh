#!/usr/bin/env bash
# Read throughput on HAProxy's read port with one and with two replicas serving, measured with
# pgbench (select-only, a custom script of the statements behind the portal's read pages: a page
# of one Mexican state's traces newest first, a page of seizures, a count of traces by year and
# source class). Between the two runs one replica is taken out of the read pool through HAProxy's
# admin socket, and put back after. Needs the topology of deploy/ha/up.sh.
#
#   deploy/ha/bench-reads.sh                 # 30 s per run, 8 clients
#   BENCH_SECONDS=10 BENCH_CLIENTS=4 deploy/ha/bench-reads.sh
#   BENCH_PIN=1 deploy/ha/bench-reads.sh     # each replica's PostgreSQL pinned to a core of its own
#
# Prints a Markdown table. Every part runs on this one machine, so its cores bound the figures:
# two replicas share the CPUs that one would have had to itself. BENCH_PIN=1 pins the first
# replica's postmaster and backends to core 0 and the second's to core 1 (taskset; new backends
# inherit it), as if each replica had one core of its own, and unpins them afterwards.
set -euo pipefail
# shellcheck source=deploy/ha/common.sh
source "$(dirname "$0")/common.sh"
{ [[ -f "$HA_DIR/topology.json" ]] && ha_running haproxy; } || ha_die "the topology in $HA_DIR is not up: run deploy/ha/up.sh first"
SECONDS_PER_RUN="${BENCH_SECONDS:-30}"
CLIENTS="${BENCH_CLIENTS:-8}"
SCRIPT="$HA_DIR/bench-reads.sql"
cat >"$SCRIPT" <<'SQL'
\set s random(1, 5)
select id, trace_number, recovery_date from trace
 where recovery_state = (array['MX-SON','MX-JAL','MX-TAM','MX-CHH','MX-BCN'])[:s]
 order by recovery_date desc, id limit 20;
select id, case_number, seized_on from seizure order by seized_on desc, id limit 20;
select recovery_year, source_class, count(*) from trace group by 1, 2;
SQL

haproxy_admin() {
  python3 - "$HA_DIR/haproxy/admin.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.recv(65536).decode().strip())
PY
}
read_servers() {
  curl -s --max-time 2 "http://127.0.0.1:$HA_STATS_PORT/;csv" | awk -F, '$1 == "postgres_read" && $2 != "BACKEND" && $18 == "UP" { print $2 }'
}
mapfile -t replicas < <(read_servers)
((${#replicas[@]} >= 2)) || ha_die "the read port has ${#replicas[@]} replicas up; two are needed"

# sessions: "server=total sessions" of the read port's servers, from the stats page.
sessions() {
  curl -s --max-time 2 "http://127.0.0.1:$HA_STATS_PORT/;csv" |
    awk -F, '$1 == "postgres_read" && $2 != "BACKEND" && $2 != "FRONTEND" { printf "%s=%s ", $2, $8 }'
}
# spread BEFORE AFTER: the sessions each server took between two readings.
spread() {
  python3 - "$1" "$2" <<'PY'
import sys
before = dict(p.split("=") for p in sys.argv[1].split())
after = dict(p.split("=") for p in sys.argv[2].split())
print(", ".join(f"{k} {int(after[k]) - int(before.get(k, 0))}" for k in sorted(after) if int(after[k]) - int(before.get(k, 0))))
PY
}

run() {
  PGPASSWORD="$(ha_secret hub)" "$HA_PG_BIN/pgbench" -n -h 127.0.0.1 -p "$HA_READ_PORT" -U hub hub \
    -f "$SCRIPT" -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -M prepared 2>/dev/null |
    awk '/^tps/ { printf "%.0f", $3 } /latency average/ { lat = $4 } END { printf " %s\n", lat }'
}
# pin NODE CORES: sets the CPU affinity of NODE's postmaster and every process under it.
pin() {
  local pid
  pid="$(head -n 1 "$HA_DIR/$1/data/postmaster.pid")"
  taskset -a -p -c "$2" "$pid" >/dev/null
  for child in $(pgrep -P "$pid"); do taskset -a -p -c "$2" "$child" >/dev/null 2>&1 || true; done
}
all_cores="0-$(($(nproc) - 1))"
restore() {
  haproxy_admin "enable server postgres_read/${replicas[1]}" >/dev/null
  if [[ "${BENCH_PIN:-0}" == 1 ]]; then
    pin "${replicas[0]}" "$all_cores"
    pin "${replicas[1]}" "$all_cores"
  fi
}
if [[ "${BENCH_PIN:-0}" == 1 ]]; then
  pin "${replicas[0]}" 0
  pin "${replicas[1]}" $((1 % $(nproc)))
fi
trap restore EXIT

load="$(cut -d' ' -f1 /proc/loadavg)"
s0="$(sessions)"
two="$(run)"
s1="$(sessions)"
haproxy_admin "disable server postgres_read/${replicas[1]}" >/dev/null
one="$(run)"
s2="$(sessions)"
restore
scale="$(ha_psql "$HA_WRITE_PORT" hub -c "select count(*) from trace")"
echo "| replicas serving reads | transactions/s (3 statements each) | mean latency (ms) | connections per replica |"
echo "|---|---|---|---|"
echo "| 1 (${replicas[0]}) | ${one% *} | ${one#* } | $(spread "$s1" "$s2") |"
echo "| 2 (${replicas[*]}) | ${two% *} | ${two#* } | $(spread "$s0" "$s1") |"
echo
pinned="$(nproc) cores shared by every part"
[[ "${BENCH_PIN:-0}" == 1 ]] && pinned="each replica's PostgreSQL pinned to one core of $(nproc), pgbench and the rest unpinned"
echo "pgbench: $CLIENTS clients, 2 threads, ${SECONDS_PER_RUN} s per run, prepared statements, against 127.0.0.1:$HA_READ_PORT; $scale traces; $pinned; load average before the runs: $load."
