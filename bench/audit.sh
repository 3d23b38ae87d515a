#!/usr/bin/env bash
# Audited lookups against the plain-append ceiling, on PostgreSQL: loads the demo data into a
# database of its own (dropped afterwards), then, in alternating rounds,
#   - the hub's audited lookup (`trace(id)` with its firearm, as ATF) driven by wrk, with the
#     audit appender's default batch bound and with batches of one event (one append transaction
#     per request, as before group commit), reading the batches from /metrics;
#   - the plain-append ceiling: the statements of one plain append (BEGIN; advisory lock; head
#     read; INSERT; COMMIT) run by pgbench at the same concurrency on the same table, and from
#     one client (the serial chain without lock hand-over between backends);
# and writes the medians into BENCHMARKS.md, between the audit-ceiling markers (replacing an
# earlier table, or appended at the end).
#
#   bench/audit.sh [SCALE]        # SCALE of the demo data, default 1
#
# Settings (environment): BENCH_SECONDS (per run, 10), BENCH_CONCURRENCY (8), BENCH_ROUNDS (3),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432, trust auth), HUB_BIN (use this binary instead
# of building one; BENCH_BINARY_NOTE describes it in the report). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

SCALE="${1:-1}"
SECONDS_PER="${BENCH_SECONDS:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-8}"
ROUNDS="${BENCH_ROUNDS:-3}"
PG_BASE="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
SEED=20210322
# The advisory lock key the hub's appends take ("FHAUDIT1").
LOCK_KEY=5064369615451804721

for tool in wrk pgbench psql curl python3; do
  command -v "$tool" >/dev/null || { hub_log "bench/audit.sh needs $tool"; exit 2; }
done
pg_isready -h 127.0.0.1 -p 5432 -q || { hub_log "no PostgreSQL server on 127.0.0.1:5432"; exit 2; }

BIN="${HUB_BIN:-$(hub_build release)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-audit-bench.XXXXXX")"
PG_DB="hub_audit_bench_$$"
URL="$PG_BASE/$PG_DB"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  hub_stop
  psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
hub_log "demo data at scale $SCALE"
(cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$URL" --scale "$SCALE" --seed "$SEED" >/dev/null 2>&1)
TRACE_ID="$(psql "$URL" -Atc "SELECT MIN(id) FROM trace")"
BODY="$(python3 -c 'import json,sys; print(json.dumps({"query": "query TraceById { trace(id: \"%s\") { id traceNumber recoveryDate recoveryState status sourceClass timeToCrimeDays firearm { manufacturer type caliber serialNumber } } }" % sys.argv[1]}))' "$TRACE_ID")"
export BODY

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["X-Access-Purpose"] = "local benchmark runs"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.3f %.3f\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000))
end
LUA

cat >"$WORK/append.sql" <<SQL
BEGIN;
SELECT pg_advisory_xact_lock($LOCK_KEY);
SELECT hash AS head FROM audit_event ORDER BY id DESC LIMIT 1 \gset
INSERT INTO audit_event (at, subject, role, purpose, operation, entities, data_owners, rows_returned, outcome, correlation_id, prev_hash, hash) VALUES (now(), 'bench', 'ATF', 'local benchmark runs', 'TraceById', 'trace,firearm', ',ATF,', 1, 'ok', 'pgbench-' || :client_id, :head, md5(:head || random()::text) || md5(clock_timestamp()::text));
COMMIT;
SQL

batch_metrics() { # batch_metrics PORT: "batches events" from one reading of /metrics
  curl -fs "http://127.0.0.1:$1/metrics" |
    awk '$1 == "audit_batches_total" { b = $2 } $1 == "audit_batch_events_sum" { e = $2 } END { print b + 0, e + 0 }'
}

# hub_round BATCH_MAX: one wrk run against a fresh hub; prints "rps p50 p99 errors batches events".
hub_round() {
  local batch_max="$1" port out b0 e0 b1 e1
  port="$(hub_free_port)"
  HUB_DATABASE_AUDIT_BATCH_MAX="$batch_max" hub_start "$BIN" "$URL" "$port" "$WORK/hub.log"
  TOKEN="$(hub_token "$BIN" ATF)"
  export TOKEN
  # One checked answer first (it also gives the audit chain a head for pgbench).
  curl -fs "http://127.0.0.1:$port/graphql" -H "Content-Type: application/json" \
    -H "Authorization: Bearer $TOKEN" -H "X-Access-Purpose: local benchmark runs" -d "$BODY" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if not d.get("errors") and d["data"]["trace"]["id"] == sys.argv[1] else 1)' "$TRACE_ID" ||
    { hub_log "the lookup did not answer correctly"; exit 1; }
  read -r b0 e0 <<<"$(batch_metrics "$port")"
  out="$(wrk -t2 -c"$CONCURRENCY" -d"${SECONDS_PER}s" -s "$WORK/post.lua" "http://127.0.0.1:$port/graphql" | grep '^RESULT')"
  sleep 1 # the requests wrk left in flight finish
  read -r b1 e1 <<<"$(batch_metrics "$port")"
  hub_stop
  # RESULT requests duration_us errors p50_ms p99_ms
  read -r _ requests duration errors p50 p99 <<<"$out"
  python3 -c 'import sys; r,d,b0,b1,e0,e1=map(float,sys.argv[1:7]); print(f"{r/(d/1e6):.1f} {sys.argv[7]} {sys.argv[8]} {sys.argv[9]} {b1-b0:.0f} {e1-e0:.0f}")' \
    "$requests" "$duration" "$b0" "$b1" "$e0" "$e1" "$p50" "$p99" "$errors"
}

# ceiling_round CLIENTS: pgbench running the plain append; prints "tps avg_latency_ms".
ceiling_round() {
  pgbench -n -M prepared -f "$WORK/append.sql" -T "$SECONDS_PER" -c "$1" -j 1 "$URL" 2>&1 |
    awk '/^latency average/ { lat = $4 } /^tps/ { tps = $3 } END { printf "%.1f %s\n", tps, lat }'
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
for ((round = 1; round <= ROUNDS; round++)); do
  hub_log "round $round/$ROUNDS: audited lookups, batched"
  echo "batched $(hub_round 256)" >>"$RESULTS"
  hub_log "round $round/$ROUNDS: audited lookups, one event per transaction"
  echo "single $(hub_round 1)" >>"$RESULTS"
  hub_log "round $round/$ROUNDS: plain-append ceiling (pgbench)"
  echo "ceiling $(ceiling_round "$CONCURRENCY")" >>"$RESULTS"
  hub_log "round $round/$ROUNDS: plain appends from one client (pgbench)"
  echo "serial $(ceiling_round 1)" >>"$RESULTS"
done
cat "$RESULTS" >&2

python3 - "$RESULTS" "$ROOT/BENCHMARKS.md" "$SCALE" "$SECONDS_PER" "$CONCURRENCY" "$ROUNDS" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "$(psql "$PG_BASE/postgres" -Atc 'SHOW server_version' 2>/dev/null || echo '?')" \
  "${BENCH_BINARY_NOTE:-${HUB_BIN:+binary \`$HUB_BIN\`}}" <<'PY'
import statistics, sys, time
results, out, scale, seconds, concurrency, rounds, commit, pg, binary = sys.argv[1:10]
binary = binary or "release build"
runs = {"batched": [], "single": [], "ceiling": [], "serial": []}
for line in open(results):
    kind, *values = line.split()
    runs[kind].append(values)
def median(kind, i):
    return statistics.median(float(v[i]) for v in runs[kind])
ceiling = median("ceiling", 0)
rows = []
for kind, what in (("batched", "hub, audit batches of up to 256 events (default)"),
                   ("single", "hub, one event per append transaction (`database.audit_batch_max = 1`)")):
    rps = median(kind, 0)
    batches = sum(float(v[4]) for v in runs[kind])
    events = sum(float(v[5]) for v in runs[kind])
    errors = sum(int(v[3]) for v in runs[kind])
    per_round = ", ".join(f"{float(v[0]):.0f}" for v in runs[kind])
    rows.append(f"| {what} | {rps:.0f} | {per_round} | {median(kind, 1):.1f} | {median(kind, 2):.1f} "
                f"| {events / batches if batches else 0:.1f} | {errors} | {rps / ceiling if ceiling else 0:.2f} |")
for kind, what in (("ceiling", f"plain-append ceiling: pgbench, {concurrency} clients, one append per transaction"),
                   ("serial", "plain appends from 1 pgbench client (no lock hand-over)")):
    rps = median(kind, 0)
    per_round = ", ".join(f"{float(v[0]):.0f}" for v in runs[kind])
    rows.append(f"| {what} | {rps:.0f} | {per_round} | avg {median(kind, 1):.2f} | | 1 | "
                f"| {rps / ceiling if ceiling else 0:.2f} |")
section = "\n".join([
    "<!-- audit-ceiling:begin (bench/audit.sh rewrites this section) -->",
    "## Audited lookups against the plain-append ceiling (PostgreSQL)",
    "",
    f"Measured by `bench/audit.sh` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit `{commit}`): "
    f"demo data at scale {scale}, PostgreSQL {pg}, {concurrency} connections for {seconds} s per run, "
    f"{rounds} alternating rounds, medians. The hub ({binary}, 2 workers, development mode, rate "
    "limit off) answers `trace(id)` with its firearm as ATF, driven by `wrk`; every answer appends its "
    "audit event and is sent only after that event is committed. The ceiling is pgbench running the "
    "statements of one plain append (`BEGIN`; advisory lock; head read; `INSERT`; `COMMIT`) on the same "
    "table at the same concurrency: what serialized one-event appends can reach with no HTTP, token, "
    "policy or read work at all. Events per batch are read from `/metrics` (`audit_batch_events`).",
    "",
    "| run | req/s (median) | per round | p50 ms | p99 ms | events per batch | failed requests | / ceiling |",
    "|---|---:|---|---:|---:|---:|---:|---:|",
    *rows,
    "",
    "Run it again with `bench/audit.sh [SCALE]`; it rewrites this section only.",
    "<!-- audit-ceiling:end -->",
])
try:
    text = open(out).read()
except FileNotFoundError:
    text = "# Benchmarks\n"
start, end = "<!-- audit-ceiling:begin (bench/audit.sh rewrites this section) -->", "<!-- audit-ceiling:end -->"
if start in text and end in text:
    text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(text)
PY
hub_log "wrote the audit section of BENCHMARKS.md"
