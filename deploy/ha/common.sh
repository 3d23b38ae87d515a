# shellcheck shell=bash
# Shared by deploy/ha/*.sh: where the topology keeps its state, its ports, and small helpers.
# Source this file; every name it defines starts with HA_ or ha_.
#
# Settings (environment; the defaults keep off the machine's own PostgreSQL on 5432):
#   HA_DIR           state folder: data, configs, logs, pid files (default: target/ha)
#   HA_VENV          Python virtualenv with Patroni (default: target/ha-venv, kept across runs)
#   HA_HUB_BIN       hub binary to run (default: target/debug/firearms-hub, built if missing)
#   HA_ETCD_PORT     etcd client port (2479; its peer port is the next one)
#   HA_PG_PORTS      the three PostgreSQL ports ("5441 5442 5443")
#   HA_REST_PORTS    the three Patroni REST ports ("8011 8012 8013")
#   HA_WRITE_PORT    HAProxy's port to the primary (5450)
#   HA_READ_PORT     HAProxy's port to the replicas (5451)
#   HA_STATS_PORT    HAProxy's stats page (7000)
#   HA_HUB_PORT      HAProxy's port in front of the hub replicas (8090)
#   HA_HUB_PORTS     the hub replicas' own ports ("8091 8092")
#   HA_DEMO_SCALE    demo data scale loaded once (0.02)

HA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HA_DIR="${HA_DIR:-$HA_ROOT/target/ha}"
# A topology that is up recorded its settings here (up.sh); they win over the defaults below.
if [[ -f "$HA_DIR/settings.sh" ]]; then
  # shellcheck source=/dev/null
  source "$HA_DIR/settings.sh"
fi
HA_VENV="${HA_VENV:-$HA_ROOT/target/ha-venv}"
HA_HUB_BIN="${HA_HUB_BIN:-$HA_ROOT/target/debug/firearms-hub}"
HA_ETCD_PORT="${HA_ETCD_PORT:-2479}"
read -r -a HA_PG_PORTS <<<"${HA_PG_PORTS:-5441 5442 5443}"
read -r -a HA_REST_PORTS <<<"${HA_REST_PORTS:-8011 8012 8013}"
HA_WRITE_PORT="${HA_WRITE_PORT:-5450}"
HA_READ_PORT="${HA_READ_PORT:-5451}"
HA_STATS_PORT="${HA_STATS_PORT:-7000}"
HA_HUB_PORT="${HA_HUB_PORT:-8090}"
read -r -a HA_HUB_PORTS <<<"${HA_HUB_PORTS:-8091 8092}"
HA_DEMO_SCALE="${HA_DEMO_SCALE:-0.02}"
HA_PG_BIN="/usr/lib/postgresql/15/bin"
# The system's Python for the virtualenv: the postgres user runs Patroni from it, so it must not
# live under a private home folder (as a pyenv interpreter under /root does).
HA_PYTHON="${HA_PYTHON:-/usr/bin/python3}"
HA_SCOPE="hub-ha"
HA_NODES=(node1 node2 node3)
HA_HUBS=(hub1 hub2)

ha_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ha_die() {
  ha_log "error: $*"
  exit 1
}

# ha_pid NAME: the pid recorded for NAME, if its file exists.
ha_pid() { cat "$HA_DIR/run/$1.pid" 2>/dev/null || true; }

# ha_running NAME: true while the process recorded for NAME is alive.
ha_running() {
  local pid
  pid="$(ha_pid "$1")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

# ha_secret NAME: a secret kept in the state folder (made by up.sh).
ha_secret() { cat "$HA_DIR/secrets/$1"; }

# ha_rest PORT PATH: prints Patroni's REST answer (empty when it does not answer).
ha_rest() { curl -s --max-time 2 "http://127.0.0.1:$1$2" 2>/dev/null || true; }

# ha_http_status URL: the HTTP status of a GET (000 when nothing answers).
ha_http_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true; }

# ha_leader: the name of the Patroni leader (empty when there is none).
ha_leader() {
  local port
  for port in "${HA_REST_PORTS[@]}"; do
    local body
    body="$(ha_rest "$port" /cluster)"
    if [[ -n "$body" ]]; then
      python3 -c 'import json,sys
c = json.loads(sys.argv[1])
print(next((m["name"] for m in c.get("members", []) if m.get("role") == "leader"), ""))' "$body"
      return 0
    fi
  done
}

# ha_node_index NAME: 0, 1 or 2 for node1, node2, node3.
ha_node_index() { echo $((${1#node} - 1)); }

# ha_psql PORT DB SQL...: runs SQL as the superuser over TCP, unaligned output.
ha_psql() {
  local port="$1" db="$2"
  shift 2
  PGPASSWORD="$(ha_secret postgres)" "$HA_PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

# The hub's database URL through HAProxy's write port, and through a given port.
ha_hub_url() { printf 'postgres://hub:%s@127.0.0.1:%s/hub' "$(ha_secret hub)" "${1:-$HA_WRITE_PORT}"; }

# ha_wait_for SECONDS DESCRIPTION COMMAND...: retries COMMAND every half second.
ha_wait_for() {
  local limit="$1" what="$2" i
  shift 2
  for ((i = 0; i < limit * 2; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  ha_log "timed out after ${limit}s waiting for $what"
  return 1
}

# ha_wait_while_running NAME SECONDS DESCRIPTION COMMAND...: as ha_wait_for, failing at once when
# the process recorded for NAME has exited.
ha_wait_while_running() {
  local name="$1" limit="$2" what="$3" i
  shift 3
  for ((i = 0; i < limit * 2; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    ha_running "$name" || { ha_log "$name exited while waiting for $what"; return 1; }
    sleep 0.5
  done
  ha_log "timed out after ${limit}s waiting for $what"
  return 1
}

# HA_AS_POSTGRES: the prefix that runs a command as the postgres user when we are root (PostgreSQL
# refuses to run as root). setpriv execs, so a recorded pid is the command's own.
HA_AS_POSTGRES=()
if [[ "$(id -u)" == 0 ]]; then
  HA_AS_POSTGRES=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- env "HOME=$HA_DIR" "PATH=$PATH")
fi

# ha_start NAME LOG COMMAND...: starts COMMAND in the background, appending to LOG, and records
# its pid in $HA_DIR/run/NAME.pid.
ha_start() {
  local name="$1" log="$2"
  shift 2
  "$@" >>"$log" 2>&1 &
  echo $! >"$HA_DIR/run/$name.pid"
}

# ha_start_patroni NODE: starts NODE's Patroni (as postgres), which starts its PostgreSQL.
ha_start_patroni() {
  ha_start "patroni-$1" "$HA_DIR/log/patroni-$1.log" \
    "${HA_AS_POSTGRES[@]}" "$HA_VENV/bin/patroni" "$HA_DIR/$1/patroni.yml"
}

# ha_start_hub HUB: starts hub replica HUB (hub1, hub2) on its port with $HA_DIR/hub.toml.
ha_start_hub() {
  local i=$((${1#hub} - 1))
  (cd "$HA_DIR" && ha_start "$1" "$HA_DIR/log/$1.log" \
    "$HA_HUB_BIN" serve --config "$HA_DIR/hub.toml" --bind "127.0.0.1:${HA_HUB_PORTS[$i]}")
}
