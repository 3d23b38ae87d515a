#!/usr/bin/env bash
# Small operations on the topology deploy/ha/up.sh started:
#
#   deploy/ha/ctl.sh status            Patroni's view of the cluster and HAProxy's of its servers
#   deploy/ha/ctl.sh start PART        starts a stopped part again with up.sh's command line:
#                                      node1..node3 (Patroni and its PostgreSQL) or hub1, hub2
#   deploy/ha/ctl.sh token ROLE [SCOPE]  prints a 2-hour token signed with the deployment's key
set -euo pipefail
# shellcheck source=deploy/ha/common.sh
source "$(dirname "$0")/common.sh"
[[ -d "$HA_DIR/run" ]] || ha_die "$HA_DIR/run does not exist: run deploy/ha/up.sh first"

case "${1:-}" in
  status)
    "$HA_VENV/bin/patronictl" -c "$HA_DIR/node1/patroni.yml" list
    echo "HAProxy (proxy, server, status):"
    curl -s --max-time 2 "http://127.0.0.1:$HA_STATS_PORT/;csv" | cut -d, -f1,2,18 | grep -v -e '^#' -e FRONTEND
    ;;
  start)
    part="${2:-}"
    case "$part" in
      node1 | node2 | node3)
        ha_running "patroni-$part" && ha_die "$part is already running"
        ha_start_patroni "$part"
        ;;
      hub1 | hub2)
        ha_running "$part" && ha_die "$part is already running"
        ha_start_hub "$part"
        ;;
      *) ha_die "usage: $0 start node1|node2|node3|hub1|hub2" ;;
    esac
    ;;
  token)
    [[ -n "${2:-}" ]] || ha_die "usage: $0 token ROLE [SCOPE]"
    "$HA_VENV/bin/python" "$(dirname "$0")/drill.py" --state "$HA_DIR" token "$2" ${3:+"$3"}
    ;;
  *) ha_die "usage: $0 status | start PART | token ROLE [SCOPE]" ;;
esac
