#!/usr/bin/env bash
# Benchmark harness: builds the hub in release mode, loads the demo data at a given scale into
# SQLite and into the local PostgreSQL (a database of its own, dropped afterwards), starts the hub
# on each, checks every benchmark query once for a correct answer, drives each with oha, runs the
# equivalent plain SQL as the floor, and writes BENCHMARKS.md at the repository root.
#
#   bench/run.sh [SCALE]          # SCALE of the demo data, default 1 (about 220,000 traces)
#
# Settings (environment): BENCH_SECONDS (per query and per floor, 10), BENCH_CONCURRENCY (8),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432, trust auth), BENCH_BACKENDS ("sqlite postgres"),
# HUB_BIN (use this binary instead of building one). Traffic goes to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

SCALE="${1:-1}"
SECONDS_PER="${BENCH_SECONDS:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-8}"
PG_BASE="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
SEED=20210322
TOOLS="$ROOT/target/bench-tools"

# oha from crates.io into a local root, once.
OHA="$(command -v oha || true)"
if [[ -z "$OHA" ]]; then
  OHA="$TOOLS/bin/oha"
  if [[ ! -x "$OHA" ]]; then
    hub_log "installing oha into $TOOLS"
    timeout 1800 cargo install oha --locked --root "$TOOLS" --quiet
  fi
fi

BIN="${HUB_BIN:-$(hub_build release)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-bench.XXXXXX")"
PG_DB="hub_bench_$$"
PG_CREATED=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  hub_stop
  if [[ -n "$PG_CREATED" ]]; then
    psql "$PG_BASE/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
sizes=""
pg_skipped=""
status=0

bench_backend() {
  local backend="$1" url="$2" floor_db="$3" port tokens role out
  hub_log "[$backend] demo data at scale $SCALE"
  out="$(cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$url" --scale "$SCALE" --seed "$SEED" 2>&1)"
  sizes="$(printf "%s\n" "$out" | grep -o "[0-9]* traces.*" | head -n 1 || true)"
  port="$(hub_free_port)"
  hub_start "$BIN" "$url" "$port" "$WORK/hub-$backend.log"
  tokens="{"
  for role in ATF ICE CBP STATE OVERSIGHT; do
    tokens+="\"$role\":\"$(hub_token "$BIN" "$role")\","
  done
  tokens="${tokens%,}}"
  python3 bench/bench.py --backend "$backend" --url "http://127.0.0.1:$port/graphql" \
    --tokens "$tokens" --pid "$HUB_LIB_PID" --db "$floor_db" --oha "$OHA" \
    --seconds "$SECONDS_PER" --concurrency "$CONCURRENCY" --out "$RESULTS" || status=1
  hub_alive || { hub_log "[$backend] the hub died"; status=1; }
  hub_stop
}

for backend in $BACKENDS; do
  case "$backend" in
    sqlite)
      bench_backend sqlite "sqlite://$WORK/bench.db?mode=rwc" "$WORK/bench.db"
      ;;
    postgres)
      if ! command -v pgbench >/dev/null || ! pg_isready -h 127.0.0.1 -p 5432 -q; then
        pg_skipped="no PostgreSQL server or pgbench on 127.0.0.1:5432"
        hub_log "skipping PostgreSQL: $pg_skipped"
        continue
      fi
      psql "$PG_BASE/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
      PG_CREATED=1
      bench_backend postgres "$PG_BASE/$PG_DB" "$PG_BASE/$PG_DB"
      ;;
    *) hub_log "unknown backend $backend"; exit 2 ;;
  esac
done

settings="$(python3 -c 'import json,sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' \
  scale "$SCALE" seed "$SEED" sizes "${sizes:-?}" seconds "$SECONDS_PER" concurrency "$CONCURRENCY" \
  workers "${HUB_SERVER_WORKERS:-2}" \
  oha_version "$("$OHA" --version | awk '{print $2}')" \
  pg_version "$(psql "$PG_BASE/postgres" -Atc 'SHOW server_version' 2>/dev/null || echo '?')" \
  commit "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  postgres_skipped "${pg_skipped:-not requested}" binary_note "${BENCH_BINARY_NOTE:-}")"
python3 bench/report.py "$RESULTS" "$ROOT/BENCHMARKS.md" "$settings"
hub_log "wrote BENCHMARKS.md"
exit "$status"
