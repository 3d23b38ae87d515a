#!/usr/bin/env bash
# Load test with reconciliation: starts a hub on 127.0.0.1 over a throw-away SQLite database with a
# small demo dataset, sends concurrent mixed reads and writes (scripts/load.py), then checks through
# the API that every acknowledged write is present and nothing else was written. Fails on any 5xx,
# any INTERNAL error, any lost acknowledged write, any extra row, or a crash of the hub.
#
#   scripts/load.sh                       # 2000 requests, 8 threads
#   LOAD_REQUESTS=200 scripts/load.sh     # the bounded form CI runs
#
# Settings (environment): LOAD_REQUESTS (2000), LOAD_THREADS (8), LOAD_SECONDS (time limit for
# sending, 180), LOAD_SCALE (demo data scale, 0.02), LOAD_PROFILE (debug|release, debug),
# LOAD_DATABASE_URL (serve this database instead, e.g. an empty PostgreSQL database),
# HUB_BIN (use this binary instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

REQUESTS="${LOAD_REQUESTS:-2000}"
THREADS="${LOAD_THREADS:-8}"
SECONDS_LIMIT="${LOAD_SECONDS:-180}"
SCALE="${LOAD_SCALE:-0.02}"

BIN="${HUB_BIN:-$(hub_build "${LOAD_PROFILE:-debug}")}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-load.XXXXXX")"
cleanup() {
  hub_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="${LOAD_DATABASE_URL:-sqlite://$WORK/hub.db?mode=rwc}"
hub_log "demo data at scale $SCALE"
(cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$DB" --scale "$SCALE" --seed 11 >/dev/null)
PORT="$(hub_free_port)"
hub_start "$BIN" "$DB" "$PORT" "$WORK/hub.log"
hub_log "hub on 127.0.0.1:$PORT (pid $HUB_LIB_PID); $REQUESTS requests on $THREADS threads"

tokens="{"
for role in ATF ICE CBP STATE OVERSIGHT; do
  tokens+="\"$role\":\"$(hub_token "$BIN" "$role")\","
done
tokens="${tokens%,}}"

status=0
timeout --kill-after=10 "$((SECONDS_LIMIT + 300))" python3 scripts/load.py \
  --url "http://127.0.0.1:$PORT/graphql" --tokens "$tokens" \
  --requests "$REQUESTS" --threads "$THREADS" --seconds "$SECONDS_LIMIT" || status=$?

if ! hub_alive; then
  hub_log "the hub died during the load test; its log:"
  tail -n 40 "$WORK/hub.log" >&2 || true
  exit 1
fi
if grep -q -E 'panicked|internal error' "$WORK/hub.log"; then
  hub_log "the hub logged panics or internal errors:"
  grep -E 'panicked|internal error' "$WORK/hub.log" | head -n 20 >&2
  status=1
fi
if ((status != 0)); then
  hub_log "load: FAILED"
  exit 1
fi
hub_log "load: passed"
