#!/usr/bin/env bash
# Link-candidate benchmark: loads the demo data at a scale (default 10, about 2.2 million traces)
# into a SQLite file of its own (timing the load), then generates every link candidate with
# `firearms-hub link-candidates` (one full pass over the traced records, no cache) RUNS times, and
# writes the figures, with recall and precision against the demo's seeded near-serial pairs, into
# BENCHMARKS.md between the `linkage` markers.
#
#   bench/linkage.sh [SCALE]
#
# Settings (environment): RUNS (3), HUB_BIN (use this binary instead of building one),
# LINKAGE_DB (keep the database at this path instead of a temporary one, and reuse it if present;
# the load's summary line is kept beside it, in LINKAGE_DB.load, and reported again on reuse).
#
# Each run is timed by /usr/bin/time (wall, user and system CPU, peak memory), with the machine's
# load average when it starts, since the machine may be shared.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

SCALE="${1:-10}"
RUNS="${RUNS:-3}"
BIN="${HUB_BIN:-$(hub_build release)}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
DB="${LINKAGE_DB:-$WORK/linkage.db}"
URL="sqlite://$DB?mode=rwc"

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

if [[ ! -s "$DB" ]]; then
  hub_log "loading demo data at scale $SCALE into $DB"
  started_load="$(load_avg)"
  load_line="$(HUB_LOG_LEVEL=warn "$BIN" --database-url "$URL" demo-data --scale "$SCALE" 2>&1 | tail -n 1)"
  load_line="$load_line (load average at start: $started_load)"
  printf '%s\n' "$load_line" >"$DB.load"
  hub_log "$load_line"
elif [[ -s "$DB.load" ]]; then
  load_line="$(cat "$DB.load") (database built then, reused here)"
else
  load_line="(database reused; its load was not recorded)"
fi

results=()
for run in $(seq 1 "$RUNS"); do
  started="$(load_avg)"
  line="$(HUB_LOG_LEVEL=warn /usr/bin/time -o "$WORK/time" \
    -f '%e s wall, %U s user and %S s system CPU, peak RSS %M KiB' \
    "$BIN" --database-url "$URL" link-candidates)"
  line="$line; whole process: $(cat "$WORK/time"); load average at start: $started"
  hub_log "run $run: $line"
  results+=("$line")
done

section="$WORK/section.md"
{
  echo "<!-- linkage:begin -->"
  echo "## Link candidates"
  echo
  echo "Measured by \`bench/linkage.sh $SCALE\` ($(date -u '+%Y-%m-%d %H:%M UTC'), commit \`$(git rev-parse --short HEAD)\`),"
  echo "release build, SQLite file, demo data seed 20210322 at scale $SCALE. Full generation of every"
  echo "candidate (read the seized records, index their deletion keys, read every traced record once),"
  echo "as \`firearms-hub link-candidates\` runs it, without the server's per-generation cache. Target: 10 s."
  echo "Machine: $(nproc) CPUs, shared with other builds and tests (each run gives the load average when it"
  echo "started: the 1, 5 and 15 minute averages of runnable tasks)."
  echo
  echo "- Demo load: $load_line"
  for i in "${!results[@]}"; do
    echo "- Run $((i + 1)): ${results[$i]}"
  done
  echo "<!-- linkage:end -->"
} >"$section"

python3 - "$ROOT/BENCHMARKS.md" "$section" <<'PY'
import re, sys
path, section = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(path).read()
pattern = re.compile(r"<!-- linkage:begin -->.*?<!-- linkage:end -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: section, text)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
hub_log "BENCHMARKS.md updated"
