#!/usr/bin/env bash
# The streaming export's memory: loads the demo data at SCALE into a database of its own (SQLite
# by default, PostgreSQL with BENCH_PG_URL; dropped afterwards), starts the hub, and exports every
# trace as ATF (`GET /export/traces`), once as NDJSON and once as CSV, while sampling the hub's
# resident set (VmRSS, every 100 ms) from /proc. Writes the rows, bytes, duration and the RSS
# before, at the peak and along the download into BENCHMARKS.md, between the export markers
# (replacing an earlier table, or appended at the end).
#
#   bench/export.sh [SCALE]        # SCALE of the demo data, default 1 (about 200,000 traces)
#
# Settings (environment): BENCH_PG_URL (e.g. postgres://postgres@127.0.0.1:5432: use PostgreSQL),
# HUB_BIN (use this binary instead of building one; BENCH_BINARY_NOTE describes it in the report).
# Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

SCALE="${1:-1}"
SEED=20210322

for tool in curl python3; do
  command -v "$tool" >/dev/null || { hub_log "bench/export.sh needs $tool"; exit 2; }
done

BIN="${HUB_BIN:-$(hub_build release)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-export-bench.XXXXXX")"
if [[ -n "${BENCH_PG_URL:-}" ]]; then
  PG_DB="hub_export_bench_$$"
  URL="$BENCH_PG_URL/$PG_DB"
  BACKEND="PostgreSQL"
  psql "$BENCH_PG_URL/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
else
  PG_DB=""
  URL="sqlite://$WORK/hub.db?mode=rwc"
  BACKEND="SQLite"
fi
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  hub_stop
  if [[ -n "$PG_DB" ]]; then
    psql "$BENCH_PG_URL/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hub_log "demo data at scale $SCALE ($BACKEND)"
load_started=$(date +%s)
(cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$URL" --scale "$SCALE" --seed "$SEED" >/dev/null 2>&1)
hub_log "loaded in $(($(date +%s) - load_started)) s"

PORT="$(hub_free_port)"
hub_start "$BIN" "$URL" "$PORT" "$WORK/hub.log"
TOKEN="$(hub_token "$BIN" ATF)"
RESULTS="$WORK/results"
: >"$RESULTS"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$HUB_LIB_PID/status"; }

# export_once FORMAT: one export to a file, sampling the hub's RSS while it runs; appends
# "format rows bytes seconds rss_before rss_peak samples…" to $RESULTS.
export_once() {
  local format="$1" out="$WORK/export.$1" samples="$WORK/rss.$1"
  # Warm the process (pool, caches) with a small request, then let it settle.
  curl -fs -o /dev/null -H "Authorization: Bearer $TOKEN" -H "X-Access-Purpose: $HUB_LIB_PURPOSE" \
    "http://127.0.0.1:$PORT/export/fundingAwards?format=$format"
  sleep 1
  local before
  before="$(rss_kib)"
  : >"$samples"
  local started
  started=$(date +%s.%N)
  curl -fsS -o "$out" -H "Authorization: Bearer $TOKEN" -H "X-Access-Purpose: $HUB_LIB_PURPOSE" \
    "http://127.0.0.1:$PORT/export/traces?format=$format" &
  local client=$!
  while kill -0 "$client" 2>/dev/null; do
    rss_kib >>"$samples"
    sleep 0.1
  done
  wait "$client"
  local finished
  finished=$(date +%s.%N)
  local rows bytes
  rows="$(wc -l <"$out")"
  [[ "$format" == csv ]] && rows=$((rows - 1))
  bytes="$(stat -c %s "$out")"
  rm -f "$out"
  echo "$format $rows $bytes $(python3 -c "print(f'{$finished - $started:.2f}')") $before $(tr '\n' ' ' <"$samples")" >>"$RESULTS"
  hub_log "$format: $rows rows, $bytes bytes"
}

export_once ndjson
export_once csv

COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
python3 - "$RESULTS" "$ROOT/BENCHMARKS.md" "$SCALE" "$BACKEND" "$COMMIT" "${BENCH_BINARY_NOTE:-release build}" <<'PY'
import sys, time
results, out, scale, backend, commit, binary = sys.argv[1:7]
rows = []
for line in open(results):
    fields = line.split()
    fmt, n, size, secs, before = fields[0], int(fields[1]), int(fields[2]), float(fields[3]), int(fields[4])
    samples = [int(s) for s in fields[5:]] or [before]
    peak = max(samples)
    def at(share):
        return samples[min(len(samples) - 1, int(share * (len(samples) - 1)))] / 1024
    rows.append(
        f"| {fmt} | {n:,} | {size / 1e6:.0f} | {secs:.1f} | {n / secs:,.0f} | {before / 1024:.1f} | "
        f"{at(0.1):.1f} / {at(0.5):.1f} / {at(0.9):.1f} | {peak / 1024:.1f} | {(peak - before) / 1024:+.1f} |"
    )
section = "\n".join([
    "<!-- export:begin (bench/export.sh rewrites this section) -->",
    f"## Streaming export at scale {scale} ({backend})",
    "",
    f"Measured by `bench/export.sh {scale}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit "
    f"`{commit}`, {binary}): demo data at scale {scale} on {backend}; ATF exports every trace with "
    "`GET /export/traces` (curl writing to a file), once as NDJSON and once as CSV, while the hub's "
    "resident set (VmRSS) is sampled every 100 ms. The rows are read 500 at a time by keyset and "
    "written as the connection takes them, so memory should stay flat whatever the number of rows.",
    "",
    "| format | rows | MB | s | rows/s | RSS before (MiB) | RSS at 10% / 50% / 90% of the download | RSS peak | peak − before |",
    "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    *rows,
    "",
    "Run it again with `bench/export.sh [SCALE]`; it rewrites this section only.",
    "<!-- export:end -->",
])
try:
    text = open(out).read()
except FileNotFoundError:
    text = "# Benchmarks\n"
start, end = "<!-- export:begin (bench/export.sh rewrites this section) -->", "<!-- export:end -->"
if start in text and end in text:
    text = text[:text.index(start)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(out, "w").write(text)
PY
hub_log "wrote the export section of BENCHMARKS.md"
cut -d" " -f1-5 <"$RESULTS" >&2
