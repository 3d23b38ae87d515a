#!/usr/bin/env bash
# Starts a highly available firearms-hub on this machine, every part a process this script owns
# (pid files under $HA_DIR/run), every byte of state under $HA_DIR:
#
#   etcd (Patroni's consensus store)
#   three PostgreSQL 15 nodes managed by Patroni, synchronous_mode on (a commit is acknowledged
#     once it is on two nodes), WAL archived to $HA_DIR/wal-archive
#   HAProxy: a write port (Patroni's /primary check), a read port (/replica), a stats page, and
#     the hub address in front of two hub replicas
#   two hub replicas (`firearms-hub serve`, production settings: ES256 public-key tokens, no
#     development mode), the demo data loaded once
#
# Installs what is missing first: Debian packages (etcd-server, haproxy, pgbouncer, postgresql-15)
# and, in a virtualenv ($HA_VENV), Patroni with etcd3 support, psycopg2 and the drill's libraries.
# Refuses to start when a part recorded in $HA_DIR/run is still running: use down.sh first.
# Ports and folders: see deploy/ha/common.sh. deploy/README.md explains the topology.
set -euo pipefail
# shellcheck source=deploy/ha/common.sh
source "$(dirname "$0")/common.sh"

# ---- refuse when already up --------------------------------------------------------------------
if [[ -d "$HA_DIR/run" ]]; then
  for f in "$HA_DIR"/run/*.pid; do
    [[ -e "$f" ]] || continue
    name="$(basename "$f" .pid)"
    if ha_running "$name"; then
      ha_die "$name is already running (pid $(ha_pid "$name")); the topology in $HA_DIR is up. Run deploy/ha/down.sh first."
    fi
  done
fi
for port in "$HA_ETCD_PORT" $((HA_ETCD_PORT + 1)) "${HA_PG_PORTS[@]}" "${HA_REST_PORTS[@]}" \
  "$HA_WRITE_PORT" "$HA_READ_PORT" "$HA_STATS_PORT" "$HA_HUB_PORT" "${HA_HUB_PORTS[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    ha_die "port $port is already taken by another process; choose other ports (see deploy/ha/common.sh)"
  fi
done

# ---- install what is missing -------------------------------------------------------------------
missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v pgbouncer >/dev/null || missing+=(pgbouncer)
[[ -x "$HA_PG_BIN/postgres" ]] || missing+=(postgresql-15)
"$HA_PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
  [[ "$(id -u)" == 0 ]] || ha_die "missing Debian packages (${missing[*]}); install them as root"
  ha_log "installing from Debian: ${missing[*]}"
  # The packages' own services stay stopped: this script runs its own processes.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ! -x "$HA_VENV/bin/patroni" ]] || ! "$HA_VENV/bin/python" -c 'import patroni, psycopg2, jwt, requests' 2>/dev/null; then
  ha_log "installing Patroni and the drill's libraries from PyPI into $HA_VENV"
  "$HA_PYTHON" -m venv "$HA_VENV"
  "$HA_VENV/bin/pip" install -q --disable-pip-version-check \
    'patroni[etcd3]>=4,<5' 'psycopg2-binary>=2.9,<3' 'pyjwt[crypto]>=2.8,<3' 'requests>=2.31,<3'
fi
# The default binary is this checkout's debug build, brought up to date (a no-op when it is); a
# binary named by HA_HUB_BIN is used as it is.
if [[ "$HA_HUB_BIN" == "$HA_ROOT/target/debug/firearms-hub" ]]; then
  ha_log "building the hub (cargo build)"
  (cd "$HA_ROOT" && cargo build --locked --quiet --bin firearms-hub)
fi
[[ -x "$HA_HUB_BIN" ]] || ha_die "no hub binary at $HA_HUB_BIN"

# ---- the state folder --------------------------------------------------------------------------
mkdir -p "$HA_DIR"/{run,log,secrets,wal-archive,etcd,haproxy}
# The settings of this topology, for down.sh, ctl.sh and the drills run later from any shell.
{
  for name in HA_VENV HA_HUB_BIN HA_ETCD_PORT HA_WRITE_PORT HA_READ_PORT HA_STATS_PORT HA_HUB_PORT HA_DEMO_SCALE; do
    printf '%s=%q\n' "$name" "${!name}"
  done
  printf 'HA_PG_PORTS=%q\nHA_REST_PORTS=%q\nHA_HUB_PORTS=%q\n' "${HA_PG_PORTS[*]}" "${HA_REST_PORTS[*]}" "${HA_HUB_PORTS[*]}"
} >"$HA_DIR/settings.sh"
chmod 700 "$HA_DIR/secrets"
for node in "${HA_NODES[@]}"; do mkdir -p "$HA_DIR/$node"; done
if [[ "$(id -u)" == 0 ]]; then chown -R postgres:postgres "$HA_DIR/wal-archive" "${HA_NODES[@]/#/$HA_DIR/}"; fi
chmod 711 "$HA_DIR"
for name in postgres replicator hub; do
  [[ -s "$HA_DIR/secrets/$name" ]] || openssl rand -hex 24 >"$HA_DIR/secrets/$name"
done
# The hub's token signing key for this deployment: ES256, the private half used only by the drill
# and the operator's token minting, the public half configured in the hub.
if [[ ! -s "$HA_DIR/secrets/token-key.pem" ]]; then
  openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -out "$HA_DIR/secrets/token-key.pem"
  openssl ec -in "$HA_DIR/secrets/token-key.pem" -pubout -out "$HA_DIR/token-key.pub.pem" 2>/dev/null
fi

# ---- etcd --------------------------------------------------------------------------------------
ha_log "etcd on 127.0.0.1:$HA_ETCD_PORT"
ha_start etcd "$HA_DIR/log/etcd.log" etcd --name ha-etcd --data-dir "$HA_DIR/etcd" \
  --listen-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
  --advertise-client-urls "http://127.0.0.1:$HA_ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((HA_ETCD_PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((HA_ETCD_PORT + 1))" \
  --initial-cluster "ha-etcd=http://127.0.0.1:$((HA_ETCD_PORT + 1))" \
  --initial-cluster-state new --initial-cluster-token "$HA_SCOPE"
ha_wait_while_running etcd 30 etcd curl -fs --max-time 1 "http://127.0.0.1:$HA_ETCD_PORT/health" ||
  { tail -n 20 "$HA_DIR/log/etcd.log" >&2; exit 1; }

# ---- Patroni and PostgreSQL --------------------------------------------------------------------
# ttl 20 s (Patroni's least), loop_wait 2 s, retry_timeout 5 s: a leader whose machine is gone loses
# its key within 20 s and a synchronous standby takes over. synchronous_mode: a commit returns only
# once a synchronous standby has it, and only such a standby may be promoted.
for i in 0 1 2; do
  node="${HA_NODES[$i]}"
  cat >"$HA_DIR/$node/patroni.yml" <<YAML
scope: $HA_SCOPE
name: $node
log:
  level: INFO
restapi:
  listen: 127.0.0.1:${HA_REST_PORTS[$i]}
  connect_address: 127.0.0.1:${HA_REST_PORTS[$i]}
etcd3:
  hosts: 127.0.0.1:$HA_ETCD_PORT
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 2
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_connections: 100
        max_wal_senders: 10
        max_replication_slots: 10
        wal_keep_size: 256MB
        archive_mode: "on"
        archive_timeout: 60
        archive_command: "test ! -f $HA_DIR/wal-archive/%f && cp %p $HA_DIR/wal-archive/%f"
        shared_buffers: 128MB
  initdb:
    - encoding: UTF8
    - locale: C.UTF-8
    - data-checksums
postgresql:
  listen: 127.0.0.1:${HA_PG_PORTS[$i]}
  connect_address: 127.0.0.1:${HA_PG_PORTS[$i]}
  data_dir: $HA_DIR/$node/data
  bin_dir: $HA_PG_BIN
  pgpass: $HA_DIR/$node/pgpass
  authentication:
    superuser:
      username: postgres
      password: $(ha_secret postgres)
    replication:
      username: replicator
      password: $(ha_secret replicator)
    rewind:
      username: postgres
      password: $(ha_secret postgres)
  parameters:
    unix_socket_directories: $HA_DIR/$node
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
YAML
  chmod 600 "$HA_DIR/$node/patroni.yml"
  if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$HA_DIR/$node/patroni.yml"; fi
done
# Patroni and PostgreSQL run as postgres: every folder on the way to the virtualenv and to the
# state folder must let that user through (a checkout under /root does not).
if [[ "$(id -u)" == 0 ]]; then
  "${HA_AS_POSTGRES[@]}" "$HA_VENV/bin/python" -c "import patroni" 2>/dev/null ||
    ha_die "the postgres user cannot run $HA_VENV/bin/python: put the virtualenv where it can (HA_VENV=/var/tmp/hub-ha-venv)"
  "${HA_AS_POSTGRES[@]}" test -r "$HA_DIR/node1/patroni.yml" ||
    ha_die "the postgres user cannot reach $HA_DIR: put the state folder where it can (HA_DIR=/var/tmp/hub-ha)"
fi
# A new cluster: the first node bootstraps it alone, so the others clone from it. A cluster kept by
# `down.sh` (no --purge): all three start, and whichever Patroni finds the most advanced leads.
existing=0
[[ -f "$HA_DIR/node1/data/PG_VERSION" ]] && existing=1
for i in 0 1 2; do
  node="${HA_NODES[$i]}"
  ha_log "Patroni $node: PostgreSQL on 127.0.0.1:${HA_PG_PORTS[$i]}, REST on 127.0.0.1:${HA_REST_PORTS[$i]}"
  ha_start_patroni "$node"
  if ((i == 0 && existing == 0)); then
    ha_wait_while_running "patroni-$node" 120 "$node to become the leader" \
      bash -c "curl -fs --max-time 1 http://127.0.0.1:${HA_REST_PORTS[0]}/primary" ||
      { tail -n 30 "$HA_DIR/log/patroni-$node.log" >&2; exit 1; }
  fi
done
any_primary() {
  local port
  for port in "${HA_REST_PORTS[@]}"; do
    curl -fs --max-time 1 "http://127.0.0.1:$port/primary" >/dev/null 2>&1 && return 0
  done
  return 1
}
ha_wait_for 180 "a leader" any_primary || { tail -n 30 "$HA_DIR"/log/patroni-node*.log >&2; exit 1; }
for i in 0 1 2; do
  node="${HA_NODES[$i]}"
  [[ "$(ha_leader)" == "$node" ]] && continue
  ha_wait_while_running "patroni-$node" 180 "$node to stream from the leader" \
    bash -c "curl -fs --max-time 1 http://127.0.0.1:${HA_REST_PORTS[$i]}/replica" ||
    { tail -n 30 "$HA_DIR/log/patroni-$node.log" >&2; exit 1; }
done
ha_wait_for 60 "a synchronous standby" \
  bash -c "curl -fs --max-time 1 http://127.0.0.1:${HA_REST_PORTS[0]}/cluster | grep -q '\"sync_standby\"'"

# ---- HAProxy -----------------------------------------------------------------------------------
# Hub replicas are checked twice: `hubs_ready` by /readyz (a draining or unready replica leaves
# rotation), `hubs_live` by /healthz. While no replica is ready (every replica's database is
# failing over at once) requests still go to a live replica, which answers 503 UNAVAILABLE with
# Retry-After itself. What HAProxy answers on its own (no live replica, a replica dying
# mid-request) is the hub's own error shape: 503 UNAVAILABLE, see errors/*.http.
mkdir -p "$HA_DIR/haproxy/errors"
for status in 502 503 504; do
  body='{"errors":[{"message":"service unavailable: no hub replica answered; retry later","extensions":{"code":"UNAVAILABLE"}}]}'
  printf 'HTTP/1.0 503 Service Unavailable\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: 1\r\nX-Answered-By: proxy\r\nContent-Length: %d\r\n\r\n%s' \
    "${#body}" "$body" >"$HA_DIR/haproxy/errors/$status.http"
done
pg_servers() {
  local i
  for i in 0 1 2; do
    printf '    server %s 127.0.0.1:%s maxconn 100 check port %s\n' "${HA_NODES[$i]}" "${HA_PG_PORTS[$i]}" "${HA_REST_PORTS[$i]}"
  done
}
hub_servers() {
  local i
  for i in 0 1; do
    printf '    server %s 127.0.0.1:%s check\n' "${HA_HUBS[$i]}" "${HA_HUB_PORTS[$i]}"
  done
}
cat >"$HA_DIR/haproxy/haproxy.cfg" <<CFG
global
    maxconn 2000
    stats socket $HA_DIR/haproxy/admin.sock mode 600 level admin

defaults
    log global
    retries 3
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 1s

listen stats
    mode http
    bind 127.0.0.1:$HA_STATS_PORT
    stats enable
    stats uri /
    stats refresh 2s

# Writes: only the node whose Patroni answers 200 on /primary. A node leaving that state has its
# sessions cut, so no client keeps writing to a demoted primary.
listen postgres_write
    mode tcp
    bind 127.0.0.1:$HA_WRITE_PORT
    option httpchk OPTIONS /primary
    http-check expect status 200
    default-server inter 1s downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions
$(pg_servers)

# Reads: the streaming replicas (Patroni's /replica), balanced by connection count.
listen postgres_read
    mode tcp
    bind 127.0.0.1:$HA_READ_PORT
    balance leastconn
    option httpchk OPTIONS /replica
    http-check expect status 200
    default-server inter 1s downinter 250ms fall 2 rise 1 on-marked-down shutdown-sessions
$(pg_servers)

frontend hub
    mode http
    bind 127.0.0.1:$HA_HUB_PORT
    timeout client 60s
    option forwardfor
    use_backend hubs_ready if { nbsrv(hubs_ready) gt 0 }
    default_backend hubs_live

backend hubs_ready
    mode http
    balance roundrobin
    option redispatch
    retry-on conn-failure
    timeout server 60s
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
    errorfile 502 $HA_DIR/haproxy/errors/502.http
    errorfile 503 $HA_DIR/haproxy/errors/503.http
    errorfile 504 $HA_DIR/haproxy/errors/504.http
$(hub_servers)

backend hubs_live
    mode http
    balance roundrobin
    option redispatch
    retry-on conn-failure
    timeout server 60s
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 1
    errorfile 502 $HA_DIR/haproxy/errors/502.http
    errorfile 503 $HA_DIR/haproxy/errors/503.http
    errorfile 504 $HA_DIR/haproxy/errors/504.http
$(hub_servers)
CFG
haproxy -c -q -f "$HA_DIR/haproxy/haproxy.cfg" || ha_die "HAProxy refused its configuration"
ha_log "HAProxy: writes on 127.0.0.1:$HA_WRITE_PORT, reads on 127.0.0.1:$HA_READ_PORT"
ha_start haproxy "$HA_DIR/log/haproxy.log" haproxy -db -f "$HA_DIR/haproxy/haproxy.cfg"
ha_wait_while_running haproxy 30 "the write port to reach the primary" ha_psql "$HA_WRITE_PORT" postgres -c 'select 1'

# ---- the hub's database, role and demo data ----------------------------------------------------
if [[ "$(ha_psql "$HA_WRITE_PORT" postgres -c "select 1 from pg_database where datname = 'hub'")" != 1 ]]; then
  ha_psql "$HA_WRITE_PORT" postgres -c "create role hub login password '$(ha_secret hub)'"
  ha_psql "$HA_WRITE_PORT" postgres -c "create database hub owner hub"
fi
cat >"$HA_DIR/hub.toml" <<TOML
# firearms-hub settings for the replicas of this topology (production mode: no development tokens).
[database]
url = "$(ha_hub_url)"
max_connections = 10
min_connections = 1
# Fail fast while the primary changes: the client is answered 503 UNAVAILABLE with Retry-After.
connect_timeout_secs = 2
acquire_timeout_secs = 3
statement_timeout_ms = 15000

[server]
workers = 2
shutdown_drain_secs = 2
shutdown_timeout_secs = 10

[auth]
issuer = "firearms-hub"
audience = "firearms-hub"
public_keys = [{ kid = "ha-drill", algorithm = "ES256", pem_file = "$HA_DIR/token-key.pub.pem" }]

[limits]
request_timeout_secs = 20
# The drill and benchmarks send far more than one analyst would.
rate_per_second = 0

[log]
level = "warn"
TOML
chmod 600 "$HA_DIR/hub.toml"
if [[ "$(ha_psql "$HA_WRITE_PORT" hub -c "select count(*) from information_schema.tables where table_name = 'trace'")" == 0 ]]; then
  ha_log "migrating and loading the demo data (scale $HA_DEMO_SCALE) through the write port"
  (cd "$HA_DIR" && "$HA_HUB_BIN" migrate --config "$HA_DIR/hub.toml" >>"$HA_DIR/log/setup.log" 2>&1 &&
    "$HA_HUB_BIN" demo-data --config "$HA_DIR/hub.toml" --scale "$HA_DEMO_SCALE" --seed 11 >>"$HA_DIR/log/setup.log" 2>&1) ||
    { tail -n 20 "$HA_DIR/log/setup.log" >&2; ha_die "loading the demo data failed"; }
else
  (cd "$HA_DIR" && "$HA_HUB_BIN" migrate --config "$HA_DIR/hub.toml" >>"$HA_DIR/log/setup.log" 2>&1) ||
    ha_die "migrating the hub's database failed (see $HA_DIR/log/setup.log)"
fi

# ---- the hub replicas --------------------------------------------------------------------------
for i in 0 1; do
  hub="${HA_HUBS[$i]}"
  ha_log "hub replica $hub on 127.0.0.1:${HA_HUB_PORTS[$i]}"
  ha_start_hub "$hub"
done
for i in 0 1; do
  ha_wait_while_running "${HA_HUBS[$i]}" 120 "${HA_HUBS[$i]} to be ready" curl -fs --max-time 1 "http://127.0.0.1:${HA_HUB_PORTS[$i]}/readyz" ||
    { tail -n 20 "$HA_DIR/log/${HA_HUBS[$i]}.log" >&2; exit 1; }
done
ha_wait_for 30 "HAProxy to see the hub replicas" curl -fs --max-time 1 "http://127.0.0.1:$HA_HUB_PORT/readyz"

# What the drill and ctl.sh need to know about this topology.
python3 - "$HA_DIR/topology.json" <<PY
import json, sys
json.dump({
    "dir": "$HA_DIR",
    "hub_url": "http://127.0.0.1:$HA_HUB_PORT",
    "hub_bin": "$HA_HUB_BIN",
    "nodes": {n: {"pg_port": int(p), "rest_port": int(r)} for n, p, r in zip("${HA_NODES[*]}".split(), "${HA_PG_PORTS[*]}".split(), "${HA_REST_PORTS[*]}".split())},
    "hubs": {h: {"port": int(p)} for h, p in zip("${HA_HUBS[*]}".split(), "${HA_HUB_PORTS[*]}".split())},
    "write_port": $HA_WRITE_PORT,
    "read_port": $HA_READ_PORT,
    "stats_port": $HA_STATS_PORT,
}, open(sys.argv[1], "w"), indent=2)
PY

cat <<INFO
firearms-hub HA topology is up (state in $HA_DIR, logs in $HA_DIR/log):
  hub (through HAProxy)    http://127.0.0.1:$HA_HUB_PORT/graphql
  hub replicas             $(for p in "${HA_HUB_PORTS[@]}"; do printf 'http://127.0.0.1:%s ' "$p"; done)
  PostgreSQL writes        127.0.0.1:$HA_WRITE_PORT (HAProxy, Patroni /primary), database hub, role hub
  PostgreSQL reads         127.0.0.1:$HA_READ_PORT (HAProxy, Patroni /replica)
  HAProxy stats            http://127.0.0.1:$HA_STATS_PORT/
  PostgreSQL nodes         $(for i in 0 1 2; do printf '%s 127.0.0.1:%s ' "${HA_NODES[$i]}" "${HA_PG_PORTS[$i]}"; done)
  Patroni REST             $(for i in 0 1 2; do printf '%s http://127.0.0.1:%s ' "${HA_NODES[$i]}" "${HA_REST_PORTS[$i]}"; done)
  etcd                     http://127.0.0.1:$HA_ETCD_PORT
  leader                   $(ha_leader)
Passwords are in $HA_DIR/secrets; tokens: deploy/ha/ctl.sh token ROLE. Stop with deploy/ha/down.sh.
INFO
