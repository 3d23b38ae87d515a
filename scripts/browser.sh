#!/usr/bin/env bash
# Browser tests of the portal and GraphiQL: headless Chromium (Debian's `chromium` package) driven
# by Playwright for Python, against `serve --demo` on a free loopback port over a throw-away SQLite
# database holding a small demo dataset. Installs what it needs when missing: the chromium package,
# and pinned Playwright and pytest in a virtual environment under target/. Fails when a test fails
# (any request leaving 127.0.0.1, console error or CSP violation fails a test), when the hub does
# not start, or when something cannot be installed.
#
#   scripts/browser.sh                  # every test
#   scripts/browser.sh -k spanish       # pytest arguments are passed on
#
# Settings (environment): BROWSER_SCALE (demo data scale, 0.1), HUB_BIN (use this binary instead of
# building the debug one), HUB_BROWSER_CHROMIUM (/usr/bin/chromium). Screenshots of every
# dashboard go to tests/browser/screenshots/ (ignored by git); the hub's log of the last run to
# target/browser-report/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/hub-lib.sh
source scripts/hub-lib.sh

PLAYWRIGHT_VERSION="1.65.2"
PYTEST_VERSION="8.3.4"
SCALE="${BROWSER_SCALE:-0.1}"
CHROMIUM="${HUB_BROWSER_CHROMIUM:-/usr/bin/chromium}"
VENV="$PWD/target/browser-venv"

if [[ ! -x "$CHROMIUM" ]]; then
  hub_log "installing Debian's chromium"
  sudo_cmd=()
  [[ "$(id -u)" -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq chromium >/dev/null
  CHROMIUM=/usr/bin/chromium
fi
"$CHROMIUM" --version >/dev/null 2>&1

# Playwright and pytest, pinned, in a venv of their own (reusing a matching system install).
venv_ok() {
  "$VENV/bin/python" - "$PLAYWRIGHT_VERSION" "$PYTEST_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("playwright"), version("pytest")) == (sys.argv[1], sys.argv[2]) else 1)
PY
}
if ! venv_ok; then
  hub_log "installing playwright $PLAYWRIGHT_VERSION and pytest $PYTEST_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv --system-site-packages "$VENV"
  timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "playwright==$PLAYWRIGHT_VERSION" "pytest==$PYTEST_VERSION"
  venv_ok
fi

BIN="${HUB_BIN:-$(hub_build debug)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hub-browser.XXXXXX")"
REPORT="$PWD/target/browser-report"
cleanup() {
  hub_stop
  rm -rf "$REPORT"
  mkdir -p "$REPORT"
  cp "$WORK"/*.log "$REPORT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="sqlite://$WORK/hub.db?mode=rwc"
started=$SECONDS
hub_log "demo data at scale $SCALE"
(cd "$WORK" && HUB_LOG_LEVEL=warn "$BIN" demo-data --database-url "$DB" --scale "$SCALE" >"$WORK/demo.log" 2>&1)
PORT="$(hub_free_port)"
# `serve --demo` over the filled database: development mode (GraphiQL, the role picker's token
# endpoint) with the default policy and limits. Run from the work directory, where --demo keeps its
# development secret.
(cd "$WORK" && HUB_LOG_LEVEL="${HUB_LOG_LEVEL:-warn}" exec "$BIN" serve --demo --database-url "$DB" \
  --bind "127.0.0.1:$PORT" >"$WORK/hub.log" 2>&1) &
HUB_LIB_PID=$!
if ! hub_wait "$PORT" "${HUB_START_TIMEOUT:-120}"; then
  hub_log "the hub did not become healthy; last log lines:"
  tail -n 20 "$WORK/hub.log" >&2 || true
  exit 1
fi
hub_log "hub on 127.0.0.1:$PORT (pid $HUB_LIB_PID), ready after $((SECONDS - started)) s"

status=0
HUB_BROWSER_URL="http://127.0.0.1:$PORT" HUB_BROWSER_CHROMIUM="$CHROMIUM" \
  "$VENV/bin/python" -m pytest tests/browser -q -p no:cacheprovider "$@" || status=$?
hub_alive || { hub_log "the hub exited during the tests"; status=1; }
hub_log "browser tests finished in $((SECONDS - started)) s (exit $status)"
exit "$status"
