# shellcheck shell=bash
# Helpers shared by scripts/fuzz.sh, scripts/load.sh and bench/run.sh: build the hub, start it on a
# free local port over a database of its own, wait until it answers, and stop it. Source this file;
# it defines functions and variables prefixed hub_ / HUB_LIB_ only.

HUB_LIB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A fixed development secret for the throw-away servers these scripts start (never a real key).
HUB_LIB_SECRET="local-test-only-secret-for-scripts-0123456789abcdef"
HUB_LIB_PID=""

hub_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# hub_build PROFILE: builds the binary (debug or release) and prints its path.
hub_build() {
  local profile="${1:-debug}" flag=()
  [[ "$profile" == release ]] && flag=(--release)
  (cd "$HUB_LIB_ROOT" && cargo build --locked --quiet "${flag[@]}" --bin firearms-hub) >&2
  printf '%s\n' "$HUB_LIB_ROOT/target/$profile/firearms-hub"
}

# hub_free_port: prints a TCP port that is free on 127.0.0.1 right now.
hub_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The purpose of access the scripts' requests state (X-Access-Purpose).
export HUB_LIB_PURPOSE="local load, fuzz and benchmark runs"

# hub_start BIN DATABASE_URL PORT LOGFILE: serves in development mode in the background. The
# per-subject rate limit is off unless HUB_LIMITS_RATE_PER_SECOND says otherwise: these scripts send
# far more than one analyst would, on purpose.
hub_start() {
  local bin="$1" url="$2" port="$3" log="$4"
  HUB_AUTH_DEV_SECRET="$HUB_LIB_SECRET" HUB_LOG_LEVEL="${HUB_LOG_LEVEL:-warn}" \
    HUB_LIMITS_RATE_PER_SECOND="${HUB_LIMITS_RATE_PER_SECOND:-0}" \
    "$bin" serve --development --database-url "$url" --bind "127.0.0.1:$port" >"$log" 2>&1 &
  HUB_LIB_PID=$!
  hub_wait "$port" "${HUB_START_TIMEOUT:-120}" || {
    hub_log "the hub did not become healthy; last log lines:"
    tail -n 20 "$log" >&2 || true
    return 1
  }
}

# hub_wait PORT SECONDS: waits for /healthz to answer 200, failing if the process died.
hub_wait() {
  local port="$1" limit="$2" i
  for ((i = 0; i < limit * 4; i++)); do
    if [[ -n "$HUB_LIB_PID" ]] && ! kill -0 "$HUB_LIB_PID" 2>/dev/null; then
      hub_log "the hub exited during start-up"
      return 1
    fi
    if curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/healthz"; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}

# hub_alive: true while the started hub is running.
hub_alive() { [[ -n "$HUB_LIB_PID" ]] && kill -0 "$HUB_LIB_PID" 2>/dev/null; }

# hub_stop: stops the started hub (SIGTERM, then SIGKILL after 15 s).
hub_stop() {
  [[ -n "$HUB_LIB_PID" ]] || return 0
  if kill -0 "$HUB_LIB_PID" 2>/dev/null; then
    kill -TERM "$HUB_LIB_PID" 2>/dev/null || true
    local i
    for ((i = 0; i < 60; i++)); do
      kill -0 "$HUB_LIB_PID" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL "$HUB_LIB_PID" 2>/dev/null || true
  fi
  wait "$HUB_LIB_PID" 2>/dev/null || true
  HUB_LIB_PID=""
}

# hub_token BIN ROLE [SCOPE]: mints a development token for the started hub's secret.
hub_token() {
  local bin="$1" role="$2" scope="${3:-}" extra=()
  [[ -n "$scope" ]] && extra=(--scope "$scope")
  HUB_AUTH_DEV_SECRET="$HUB_LIB_SECRET" "$bin" token --role "$role" --ttl 2h "${extra[@]}"
}
