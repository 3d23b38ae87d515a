#!/usr/bin/env bash
# Property-based fuzzing of the GraphQL API with schemathesis, once per role, against a hub this
# script starts on 127.0.0.1 over a throw-away SQLite database with a small demo dataset. Fails if
# any response is a 5xx, if the hub crashes, or if schemathesis cannot be installed or run.
#
#   scripts/fuzz.sh                      # 50 examples per operation and role
#   FUZZ_EXAMPLES=20 scripts/fuzz.sh     # the bounded form CI runs
#
# Settings (environment): FUZZ_EXAMPLES (50), FUZZ_ROLES ("ATF ICE CBP STATE OVERSIGHT"),
# FUZZ_SCALE (demo data scale, 0.02), FUZZ_ROLE_TIMEOUT (seconds per role, 600), FUZZ_SEED
# (schemathesis' seed, 20261127, so that a run can be repeated exactly),
# FUZZ_PROFILE (debug|release, debug), HUB_BIN (use this binary instead of building one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

SCHEMATHESIS_VERSION="4.32.5"
EXAMPLES="${FUZZ_EXAMPLES:-50}"
ROLES="${FUZZ_ROLES:-ATF ICE CBP STATE OVERSIGHT}"
SCALE="${FUZZ_SCALE:-0.02}"
ROLE_TIMEOUT="${FUZZ_ROLE_TIMEOUT:-600}"
SEED="${FUZZ_SEED:-20261127}"
VENV="$PWD/target/fuzz-venv"

# schemathesis from PyPI, pinned, in a venv of its own. A failed install fails the script.
if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != *"$SCHEMATHESIS_VERSION"* ]]; then
  hub_log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version >/dev/null

BIN="${HUB_BIN:-$(hub_build "${FUZZ_PROFILE:-debug}")}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-fuzz.XXXXXX")"
REPORT="$PWD/target/fuzz-report"
cleanup() {
  hub_stop
  # Keep the logs and reports of the last run for inspection.
  rm -rf "$REPORT"
  mkdir -p "$REPORT"
  cp "$WORK"/*.log "$WORK"/*.xml "$REPORT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="sqlite://$WORK/hub.db?mode=rwc"
hub_log "demo data at scale $SCALE"
(cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$DB" --scale "$SCALE" --seed 7 >/dev/null)
"$BIN" schema >"$WORK/schema.graphql"
PORT="$(hub_free_port)"
hub_start "$BIN" "$DB" "$PORT" "$WORK/hub.log"
hub_log "hub on 127.0.0.1:$PORT (pid $HUB_LIB_PID); seed $SEED; $EXAMPLES examples per operation"

failed=()
for role in $ROLES; do
  token="$(hub_token "$BIN" "$role" pii)"
  hub_log "fuzzing as $role"
  status=0
  # Run from the work directory: schemathesis keeps a cache in its working directory.
  (cd "$WORK" && SCHEMATHESIS_HOOKS="$ROOT/scripts/fuzz_hooks.py" \
    timeout --kill-after=10 "$ROLE_TIMEOUT" "$VENV/bin/schemathesis" --no-color run "$WORK/schema.graphql" \
    --url "http://127.0.0.1:$PORT/graphql" \
    --header "Authorization: Bearer $token" \
    --header "X-Access-Purpose: $HUB_LIB_PURPOSE" \
    --checks hub_no_server_error \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 2 \
    --request-timeout 30 \
    --generation-database none \
    --suppress-health-check all \
    --output-truncate true \
    --report junit --report-junit-path "$WORK/junit-$role.xml") \
    >"$WORK/fuzz-$role.log" 2>&1 || status=$?
  tail -n 12 "$WORK/fuzz-$role.log"
  if ((status != 0)); then
    hub_log "$role: schemathesis exited with $status"
    grep -E -A 12 'Server error|5[0-9][0-9] ' "$WORK/fuzz-$role.log" | head -n 80 >&2 || true
    failed+=("$role")
  fi
  if ! hub_alive || ! curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$PORT/healthz"; then
    hub_log "the hub is down after fuzzing as $role; its log:"
    tail -n 40 "$WORK/hub.log" >&2 || true
    exit 1
  fi
done

# Malformed requests are logged by the HTTP layer and are not failures; a panic or an internal error
# (the cause of an INTERNAL answer) is.
if grep -q -E 'panicked|internal error' "$WORK/hub.log"; then
  hub_log "the hub logged panics or internal errors while fuzzed:"
  grep -E 'panicked|internal error' "$WORK/hub.log" | head -n 20 >&2
  failed+=("hub-log")
fi
if ((${#failed[@]} > 0)); then
  hub_log "fuzz: FAILED (${failed[*]}); logs in $REPORT"
  exit 1
fi
hub_log "fuzz: no server error in any role"
