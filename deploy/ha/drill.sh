#!/usr/bin/env bash
# Failover drills against the topology deploy/ha/up.sh started (see deploy/ha/drill.py for what
# each does and reports): the Patroni leader killed, the synchronous standby killed, a hub replica
# killed, each under concurrent writes from CBP and ICE and reads. Writes the report to
# $HA_DIR/drill-report.md (or --report FILE) and prints it; exits 1 when a target is missed.
#
#   deploy/ha/drill.sh                 # the full drills
#   deploy/ha/drill.sh --short         # the bounded form CI runs
#   deploy/ha/drill.sh --only leader   # one drill (leader, replica or hub; may repeat)
set -euo pipefail
# shellcheck source=deploy/ha/common.sh
source "$(dirname "$0")/common.sh"
{ [[ -f "$HA_DIR/topology.json" ]] && ha_running haproxy; } ||
  ha_die "the topology in $HA_DIR is not up: run deploy/ha/up.sh first"
exec "$HA_VENV/bin/python" "$(dirname "$0")/drill.py" --state "$HA_DIR" drill "$@"
