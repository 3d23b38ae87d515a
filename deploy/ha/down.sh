#!/usr/bin/env bash
# Stops exactly what deploy/ha/up.sh (and a drill) started, by the pid files under $HA_DIR/run:
# the hub replicas, HAProxy, each Patroni (which stops its PostgreSQL) and etcd. A PostgreSQL left
# running by a Patroni that was killed is stopped through the postmaster.pid of its data folder.
#
#   deploy/ha/down.sh            # stop, keep the data (up.sh starts on it again)
#   deploy/ha/down.sh --purge    # stop and remove the state folder
set -euo pipefail
# shellcheck source=deploy/ha/common.sh
source "$(dirname "$0")/common.sh"

purge=0
case "${1:-}" in
  --purge) purge=1 ;;
  "") ;;
  *) ha_die "usage: $0 [--purge]" ;;
esac
[[ -d "$HA_DIR/run" ]] || { ha_log "nothing to stop: $HA_DIR/run does not exist"; exit 0; }

# stop_pid NAME PID SECONDS: SIGTERM, then SIGKILL once SECONDS have passed.
stop_pid() {
  local name="$1" pid="$2" limit="$3" i
  kill -0 "$pid" 2>/dev/null || return 0
  ha_log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 4; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.25
  done
  ha_log "$name did not stop in ${limit}s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  local name="$1" limit="$2" pid
  pid="$(ha_pid "$name")"
  if [[ -n "$pid" ]]; then
    stop_pid "$name" "$pid" "$limit"
    rm -f "$HA_DIR/run/$name.pid"
  fi
}

for hub in "${HA_HUBS[@]}"; do stop "$hub" 20; done
stop haproxy 10
# Replicas first, the leader last, so no failover is started by the shutdown itself.
leader="$(ha_leader)"
for node in "${HA_NODES[@]}"; do [[ "$node" == "$leader" ]] || stop "patroni-$node" 60; done
[[ -n "$leader" ]] && stop "patroni-$leader" 60
for node in "${HA_NODES[@]}"; do stop "patroni-$node" 60; done
for node in "${HA_NODES[@]}"; do
  pidfile="$HA_DIR/$node/data/postmaster.pid"
  if [[ -f "$pidfile" ]]; then
    pid="$(head -n 1 "$pidfile")"
    # Only a postmaster of this data folder: its command line names it.
    if [[ -n "$pid" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$HA_DIR/$node/data"; then
      stop_pid "PostgreSQL $node" "$pid" 30
    fi
  fi
done
stop etcd 10
for f in "$HA_DIR"/run/*.pid; do
  [[ -e "$f" ]] || continue
  stop "$(basename "$f" .pid)" 10
done
if ((purge)); then
  ha_log "removing $HA_DIR"
  rm -rf "$HA_DIR"
fi
ha_log "down"
