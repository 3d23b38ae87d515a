#!/usr/bin/env bash
# Backup and restore drill against the topology deploy/ha/up.sh started:
#
#   1. a base backup of the cluster with pg_basebackup (through HAProxy's write port, WAL streamed
#      into the backup), as an operator would take it nightly;
#   2. a named restore point, with the row counts at that moment, then one more write through the
#      hub (a seizure recorded by CBP) that a restore to the point must not contain;
#   3. the WAL switched so the archive ($HA_DIR/wal-archive, filled by archive_command on the
#      primary) holds the restore point;
#   4. the backup restored into a new data folder, started on its own port (HA_RESTORE_PORT, 5460)
#      with restore_command reading the archive, recovering to the restore point (or, with
#      --latest, to the end of the archive) and promoted;
#   5. checks: the restored counts of seizures, traces, firearms and audit events equal those at the
#      restore point (with --latest: those of the cluster, the later write included), the later
#      write is absent (present with --latest), and `firearms-hub audit verify` passes on the
#      restored database.
#
# The restored instance is stopped and its folder removed at the end (--keep keeps both running).
# Exits 1 when a check fails.
set -euo pipefail
# shellcheck source=deploy/ha/common.sh
source "$(dirname "$0")/common.sh"

mode=point
keep=0
for arg in "$@"; do
  case "$arg" in
    --latest) mode=latest ;;
    --keep) keep=1 ;;
    *) ha_die "usage: $0 [--latest] [--keep]" ;;
  esac
done
{ [[ -f "$HA_DIR/topology.json" ]] && ha_running haproxy; } || ha_die "the topology in $HA_DIR is not up: run deploy/ha/up.sh first"
PORT="${HA_RESTORE_PORT:-5460}"
WORK="$HA_DIR/restore"
DATA="$WORK/data"
[[ -e "$WORK" ]] && ha_die "$WORK exists from an earlier drill; remove it first"
(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && ha_die "port $PORT is taken; set HA_RESTORE_PORT"
mkdir -p "$WORK"
[[ "$(id -u)" == 0 ]] && chown postgres:postgres "$WORK"
stop_restored() {
  if [[ -f "$DATA/postmaster.pid" ]]; then
    "${HA_AS_POSTGRES[@]}" "$HA_PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() {
  if ((keep == 0)); then
    stop_restored
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

COUNTS="select (select count(*) from seizure) || ' ' || (select count(*) from trace) || ' ' || (select count(*) from firearm) || ' ' || (select count(*) from audit_event)"

started=$(date +%s)
ha_log "base backup through 127.0.0.1:$HA_WRITE_PORT into $DATA"
"${HA_AS_POSTGRES[@]}" env PGPASSWORD="$(ha_secret replicator)" "$HA_PG_BIN/pg_basebackup" \
  -h 127.0.0.1 -p "$HA_WRITE_PORT" -U replicator -D "$DATA" -X stream -c fast --no-password
backup_secs=$(($(date +%s) - started))
backup_size="$(du -sh "$DATA" | cut -f1)"

# A write after the backup and before the restore point: a restore must contain it.
hub_write() {
  local key="$1" token
  token="$("$HA_VENV/bin/python" "$(dirname "$0")/drill.py" --state "$HA_DIR" token CBP)"
  curl -fs --max-time 30 "http://127.0.0.1:$HA_HUB_PORT/graphql" -H 'Content-Type: application/json' \
    -H "Authorization: Bearer $token" -H 'X-Access-Purpose: restore drill' \
    --data "{\"query\":\"mutation(\$i: SeizureInput!) { recordSeizure(input: \$i) { caseNumber } }\",\"variables\":{\"i\":{\"caseNumber\":\"$key\",\"seizingAgency\":\"CBP\",\"operation\":\"RESTORE-DRILL\",\"seizedOn\":\"2026-11-20\",\"usState\":\"AZ\",\"portOfEntry\":\"Nogales\",\"direction\":\"OUTBOUND\",\"ammunitionRounds\":1,\"firearms\":[{\"manufacturer\":\"DrillArms\",\"type\":\"PISTOL\",\"serialNumber\":\"SN$key\"}]}}}" |
    grep -q "\"caseNumber\":\"$key\"" || ha_die "the hub did not acknowledge the drill's write $key"
}
tag="restore-drill-$(date +%s)"
hub_write "$tag-before"
point_counts="$(ha_psql "$HA_WRITE_PORT" hub -c "select pg_create_restore_point('$tag')" -c "$COUNTS" | tail -n 1)"
hub_write "$tag-after"
cluster_counts="$(ha_psql "$HA_WRITE_PORT" hub -c "$COUNTS")"
segment="$(ha_psql "$HA_WRITE_PORT" hub -c "select pg_walfile_name(pg_switch_wal())")"
ha_wait_for 60 "WAL segment $segment in the archive" test -f "$HA_DIR/wal-archive/$segment" ||
  ha_die "the archive did not receive $segment; check archive_command in the primary's log"

ha_log "restoring into $DATA on 127.0.0.1:$PORT (recovery to: $mode)"
target=""
[[ "$mode" == point ]] && target="recovery_target_name = '$tag'"
# Patroni's generated postgresql.conf names the node's folders and the cluster's archive; the
# restored instance gets its own, archives nothing, and needs settings at least as large as the
# primary's for recovery.
cat >"$DATA/postgresql.conf" <<CONF
include 'postgresql.base.conf'
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
archive_mode = off
synchronous_standby_names = ''
wal_level = replica
hot_standby = on
max_connections = 100
max_wal_senders = 10
max_replication_slots = 10
max_worker_processes = 8
max_locks_per_transaction = 64
max_prepared_transactions = 0
wal_log_hints = on
restore_command = 'cp $HA_DIR/wal-archive/%f %p'
recovery_target_action = 'promote'
$target
CONF
rm -f "$DATA/standby.signal"
touch "$DATA/recovery.signal"
[[ "$(id -u)" == 0 ]] && chown -R postgres:postgres "$DATA"
restore_started=$(date +%s)
"${HA_AS_POSTGRES[@]}" "$HA_PG_BIN/pg_ctl" -D "$DATA" -l "$WORK/postgres.log" -w -t 300 start >/dev/null ||
  { tail -n 20 "$WORK/postgres.log" >&2; ha_die "the restored instance did not start"; }
ha_wait_for 300 "recovery to finish and promote" \
  bash -c "[[ \$(PGPASSWORD='$(ha_secret postgres)' $HA_PG_BIN/psql -X -A -t -h 127.0.0.1 -p $PORT -U postgres -d hub -c 'select pg_is_in_recovery()') == f ]]" ||
  { tail -n 20 "$WORK/postgres.log" >&2; ha_die "the restored instance did not finish recovery"; }
restore_secs=$(($(date +%s) - restore_started))

restored_counts="$(ha_psql "$PORT" hub -c "$COUNTS")"
after_present="$(ha_psql "$PORT" hub -c "select count(*) from seizure where case_number = '$tag-after'")"
before_present="$(ha_psql "$PORT" hub -c "select count(*) from seizure where case_number = '$tag-before'")"
failed=0
if [[ "$mode" == point ]]; then
  expected="$point_counts"
  expected_after=0
else
  expected="$cluster_counts"
  expected_after=1
fi
echo "restore drill ($mode): base backup ${backup_secs}s ($backup_size), recovery ${restore_secs}s"
echo "  counts (seizures traces firearms audit events): expected $expected, restored $restored_counts"
echo "  write before the restore point present: $before_present (expected 1); after it: $after_present (expected $expected_after)"
[[ "$restored_counts" == "$expected" ]] || { echo "  FAILED: the restored counts differ"; failed=1; }
[[ "$before_present" == 1 ]] || { echo "  FAILED: the write before the restore point is missing"; failed=1; }
[[ "$after_present" == "$expected_after" ]] || { echo "  FAILED: the write after the restore point is wrongly $after_present"; failed=1; }
if (cd "$WORK" && HUB_LOG_LEVEL=warn "$HA_HUB_BIN" audit verify \
  --database-url "postgres://postgres:$(ha_secret postgres)@127.0.0.1:$PORT/hub" >"$WORK/verify.log" 2>&1); then
  echo "  audit verify on the restored database: intact ($(tail -n 1 "$WORK/verify.log"))"
else
  echo "  FAILED: audit verify on the restored database: $(tail -n 1 "$WORK/verify.log")"
  failed=1
fi
((keep)) && echo "  kept running: 127.0.0.1:$PORT, data in $DATA (stop: pg_ctl -D $DATA stop, as postgres)"
exit "$failed"
