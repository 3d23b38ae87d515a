#!/usr/bin/env python3
"""A client of firearms-hub, as another agency's system would write one, with `requests`.

It does three things a nightly job does:

1. pages through a filtered list (`traces` of the given recovery states) with cursors, 100 rows a
   page, until `pageInfo.hasNextPage` is false;
2. makes an automatic persisted query (APQ, the Apollo convention): it first sends only the sha256
   of the document in `extensions.persistedQuery`; a hub that does not know the hash answers
   `PERSISTED_QUERY_NOT_FOUND`, and the client sends the document with its hash once; later calls
   send the hash alone. A hub without APQ (`PERSISTED_QUERY_NOT_SUPPORTED`, or one that ignores the
   extension and reports an empty document) gets the full document instead;
3. downloads the same slice with the streaming export (`GET /export/traces`, NDJSON) and checks it
   holds the rows the pages held.

Settings come from the environment: HUB_URL (default http://127.0.0.1:8080), HUB_TOKEN (a bearer
token, e.g. `firearms-hub token --role ATF`), HUB_PURPOSE (the X-Access-Purpose header, for other
agencies' rows) and HUB_STATES (comma-separated recovery states, default MX-SON,MX-CHH). It prints
one JSON object with what it did, and exits 1 when something did not add up.

    HUB_TOKEN=$(firearms-hub token --role ATF) python3 examples/clients/hub_client.py
"""

import hashlib
import json
import os
import sys

import requests

URL = os.environ.get("HUB_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ["HUB_TOKEN"]
PURPOSE = os.environ.get("HUB_PURPOSE")
STATES = [s for s in os.environ.get("HUB_STATES", "MX-SON,MX-CHH").split(",") if s]

PAGE = """
query TracePage($filter: TraceFilter, $after: String) {
  traces(filter: $filter, first: 100, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id traceNumber recoveryDate recoveryState status }
  }
}
"""

COUNT = "query TraceCount($filter: TraceFilter) { traces(filter: $filter) { totalCount } }"


def session():
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    if PURPOSE:
        s.headers["X-Access-Purpose"] = PURPOSE
    return s


def graphql(s, body):
    response = s.post(f"{URL}/graphql", json=body, timeout=60)
    try:
        answer = response.json()
    except ValueError:
        raise SystemExit(f"not a GraphQL answer ({response.status_code}): {response.text[:200]}")
    return response.status_code, answer


def codes(answer):
    return [(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []]


def messages(answer):
    return [e.get("message", "") for e in answer.get("errors") or []]


def every_page(s, filter_):
    """Every trace matching the filter, page by page with cursors."""
    rows, pages, after, total = [], 0, None, None
    while True:
        status, answer = graphql(s, {"query": PAGE, "variables": {"filter": filter_, "after": after}})
        if status != 200 or answer.get("errors"):
            raise SystemExit(f"page {pages + 1} failed ({status}): {answer}")
        connection = answer["data"]["traces"]
        total = connection["totalCount"]
        rows.extend(connection["nodes"])
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            return rows, pages, total
        after = connection["pageInfo"]["endCursor"]


def persisted(s, query, variables):
    """One APQ call: the hash alone, then (when the hub asks) the hash with the document, then the
    hash alone again. Returns (outcome, data) where outcome is "supported" or "unsupported"."""
    digest = hashlib.sha256(query.encode("utf-8")).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    _, answer = graphql(s, {"variables": variables, "extensions": extensions})
    found = codes(answer)
    if "PERSISTED_QUERY_NOT_FOUND" in found or "PersistedQueryNotFound" in messages(answer):
        _, registered = graphql(s, {"query": query, "variables": variables, "extensions": extensions})
        if registered.get("errors"):
            raise SystemExit(f"registering the persisted query failed: {registered}")
        _, answer = graphql(s, {"variables": variables, "extensions": extensions})
        if answer.get("errors"):
            raise SystemExit(f"the persisted query by hash failed after registering: {answer}")
        return "supported", answer["data"]
    if not answer.get("errors") and answer.get("data"):
        # The hub already knew the hash (another client registered it).
        return "supported", answer["data"]
    # No APQ: PERSISTED_QUERY_NOT_SUPPORTED, or a hub that ignores the extension and finds no
    # document. Send the document itself.
    _, answer = graphql(s, {"query": query, "variables": variables})
    if answer.get("errors"):
        raise SystemExit(f"the query failed: {answer}")
    return "unsupported", answer["data"]


def export(s, filter_):
    """The same slice through the streaming export, read line by line."""
    params = {"format": "ndjson", "filter": json.dumps(filter_)}
    rows = []
    with s.get(f"{URL}/export/traces", params=params, stream=True, timeout=60) as response:
        if response.status_code != 200:
            raise SystemExit(f"export failed ({response.status_code}): {response.text[:300]}")
        for line in response.iter_lines():
            if line:
                rows.append(json.loads(line))
        withheld = response.headers.get("X-Withheld-Fields", "")
    return rows, withheld


def main():
    s = session()
    filter_ = {"recoveryState": STATES}
    rows, pages, total = every_page(s, filter_)
    apq, data = persisted(s, COUNT, {"filter": filter_})
    exported, withheld = export(s, filter_)
    report = {
        "pages": pages,
        "rows": len(rows),
        "totalCount": total,
        "apq": apq,
        "apqTotalCount": data["traces"]["totalCount"],
        "exportRows": len(exported),
        "exportWithheldFields": withheld,
    }
    print(json.dumps(report))
    paged_ids = [r["id"] for r in rows]
    exported_ids = [r["id"] for r in exported]
    if not (len(rows) == total == data["traces"]["totalCount"] and paged_ids == exported_ids):
        print("the pages, the persisted query and the export disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
