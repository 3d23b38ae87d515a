#!/usr/bin/env bash
# A curl session against firearms-hub: health, who am I, one filtered page, the next page by its
# cursor, and the streaming export of the same slice as CSV and NDJSON.
#
#   HUB_TOKEN=$(firearms-hub token --role ATF) examples/clients/session.sh
#
# Environment: HUB_URL (default http://127.0.0.1:8080), HUB_TOKEN (bearer token), HUB_PURPOSE
# (X-Access-Purpose, default "nightly extract"), HUB_OUT (directory for the exported files,
# default the current one). Needs curl and python3 (to read JSON). Exits non-zero on any failure.
set -euo pipefail

URL="${HUB_URL:-http://127.0.0.1:8080}"
: "${HUB_TOKEN:?set HUB_TOKEN to a bearer token, e.g. \$(firearms-hub token --role ATF)}"
PURPOSE="${HUB_PURPOSE:-nightly extract}"
OUT="${HUB_OUT:-.}"
AUTH=(-H "Authorization: Bearer $HUB_TOKEN" -H "X-Access-Purpose: $PURPOSE")

# 1. The hub is up and ready.
curl -fsS "$URL/healthz"
echo
curl -fsS "$URL/readyz"
echo

# 2. Who the token says I am, and what my role may read.
curl -fsS "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"query":"{ me { role permissions { entity rows hiddenFields } } }"}' \
  "$URL/graphql"
echo

# 3. A filtered page of two traces, then the next page by the first page's cursor.
page() {
  local after="$1"
  curl -fsS "${AUTH[@]}" -H 'Content-Type: application/json' \
    -d "{\"query\":\"query Page(\$after: String) { traces(filter: {recoveryState: [\\\"MX-SON\\\", \\\"MX-CHH\\\"]}, first: 2, after: \$after) { totalCount pageInfo { hasNextPage endCursor } nodes { traceNumber recoveryState } } }\",\"variables\":{\"after\":$after}}" \
    "$URL/graphql"
}
FIRST="$(page null)"
echo "$FIRST"
CURSOR="$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"]["traces"]["pageInfo"]["endCursor"]))' <<<"$FIRST")"
page "$CURSOR"
echo

# 4. The same slice, every row, through the streaming export: CSV by Accept, NDJSON by ?format=.
FILTER='{"recoveryState":["MX-SON","MX-CHH"]}'
curl -fsS "${AUTH[@]}" -H 'Accept: text/csv' -G "$URL/export/traces" \
  --data-urlencode "filter=$FILTER" -o "$OUT/traces.csv" -D "$OUT/traces.csv.headers"
curl -fsS "${AUTH[@]}" -G "$URL/export/traces" --data-urlencode 'format=ndjson' \
  --data-urlencode "filter=$FILTER" -o "$OUT/traces.ndjson"
echo "exported $(($(wc -l <"$OUT/traces.csv") - 1)) CSV rows and $(wc -l <"$OUT/traces.ndjson") NDJSON rows"

# 5. A bad filter is refused with a message naming it (400), and the session goes on.
STATUS="$(curl -sS -o /dev/null -w '%{http_code}' "${AUTH[@]}" -G "$URL/export/traces" \
  --data-urlencode 'filter={"recoveryStat":["MX-SON"]}')"
echo "a misspelt filter field: HTTP $STATUS"
[[ "$STATUS" == 400 ]]
