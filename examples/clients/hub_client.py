#!/usr/bin/env python3
"""A client of firearms-hub, as another agency's system would write one, with `requests` and
`websockets`.

It does four things a nightly job does:

1. pages through a filtered list (`traces` of the given recovery states) with cursors, 100 rows a
   page, until `pageInfo.hasNextPage` is false;
2. makes an automatic persisted query (APQ, the Apollo convention): it first sends only the sha256
   of the document in `extensions.persistedQuery`; a hub that does not know the hash answers
   `PERSISTED_QUERY_NOT_FOUND`, and the client sends the document with its hash once; later calls
   send the hash alone. A hub without APQ (`PERSISTED_QUERY_NOT_SUPPORTED`, or one that ignores the
   extension and reports an empty document) gets the full document instead;
3. downloads the same slice with the streaming export (`GET /export/traces`, NDJSON) and checks it
   holds the rows the pages held;
4. subscribes to `traceRecorded` with the same filter over a WebSocket on `/graphql`
   (graphql-transport-ws: `connection_init` with the token and purpose, `connection_ack`,
   `subscribe`), confirms the hub took the subscription with a `ping` answered by `pong` (the hub
   admits a subscribe, or refuses it, before it reads the connection's next message), prints the line `subscribed` to stderr, then collects
   HUB_EVENTS `next` messages (traces recorded from then on) within HUB_WAIT seconds, and ends the
   subscription with `complete`. An `error` message, a close by the hub (4403: the token was
   refused) or too few events within the wait is a failure.

Settings come from the environment: HUB_URL (default http://127.0.0.1:8080; the WebSocket is ws://
for http://, wss:// for https://), HUB_TOKEN (a bearer token, e.g. `firearms-hub token --role
ATF`), HUB_PURPOSE (the X-Access-Purpose header and the subscription's `purpose`, for other
agencies' rows), HUB_STATES (comma-separated recovery states, default MX-SON,MX-CHH), HUB_EVENTS
(how many traces the subscription waits for, default 0: only check that the hub accepts it) and
HUB_WAIT (seconds to wait for them, default 30). It prints one JSON object with what it did
(`events` holds the trace numbers the subscription received, in order), and exits 1 when
something did not add up.

    HUB_TOKEN=$(firearms-hub token --role ATF) python3 examples/clients/hub_client.py
"""

import hashlib
import json
import os
import sys
import time

import requests
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

URL = os.environ.get("HUB_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ["HUB_TOKEN"]
PURPOSE = os.environ.get("HUB_PURPOSE")
STATES = [s for s in os.environ.get("HUB_STATES", "MX-SON,MX-CHH").split(",") if s]


def setting(name, default, kind):
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {text!r}")
    if value < 0:
        raise SystemExit(f"{name} must not be negative, not {text!r}")
    return value


EVENTS = setting("HUB_EVENTS", 0, int)
# How often one request is sent again after a 429 before the client gives up.
RATE_RETRIES = 10
WAIT = setting("HUB_WAIT", 30.0, float)

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

SUBSCRIPTION = """
subscription TracesRecorded($filter: TraceFilter) {
  traceRecorded(filter: $filter) { id traceNumber recoveryState }
}
"""

# What the hub means by the close codes of graphql-transport-ws (README, "Subscriptions").
CLOSED = {
    1013: "the client did not read fast enough",
    4400: "a message or the purpose was refused as invalid",
    4401: "the token expired, or a subscribe came before the acknowledgement",
    4403: "the token was refused",
    4406: "the subprotocol graphql-transport-ws was not accepted",
    4408: "no connection_init in time",
    4409: "the subscription id was already in use",
    4429: "a second connection_init",
}


def session():
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    if PURPOSE:
        s.headers["X-Access-Purpose"] = PURPOSE
    return s


def graphql(s, body):
    """POSTs one GraphQL request. A 429 (the token's request rate, `RATE_LIMITED`) is waited out
    as its Retry-After says, a few times, as a long paging job must."""
    for _ in range(RATE_RETRIES):
        response = s.post(f"{URL}/graphql", json=body, timeout=60)
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
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


def websocket_url():
    """The WebSocket of `/graphql`: ws:// beside http://, wss:// beside https://."""
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if URL.startswith(http):
            return ws + URL[len(http):] + "/graphql"
    raise SystemExit(f"HUB_URL must start with http:// or https://, not {URL!r}")


def closed(error):
    """What a close by the hub (or a lost connection) says, in words."""
    frame = error.rcvd
    if frame is None:
        return "the connection to the hub was lost without a close frame"
    meaning = CLOSED.get(frame.code, "")
    return (
        f"the hub closed the subscription's connection with {frame.code}"
        + (f" ({meaning})" if meaning else "")
        + (f": {frame.reason}" if frame.reason else "")
    )


def subscribe(filter_):
    """`traceRecorded` with the filter over graphql-transport-ws: the trace numbers of the first
    EVENTS traces the hub delivers, waiting at most WAIT seconds for them after the hub confirmed
    the subscription."""
    payload = {"authorization": f"Bearer {TOKEN}"}
    if PURPOSE:
        payload["purpose"] = PURPOSE
    events = []
    try:
        with connect(
            websocket_url(),
            subprotocols=["graphql-transport-ws"],
            open_timeout=30,
            close_timeout=5,
        ) as ws:

            def send(message):
                ws.send(json.dumps(message))

            def receive(timeout):
                """The next protocol message, a ping answered; None when `timeout` passes."""
                while True:
                    try:
                        message = json.loads(ws.recv(timeout=timeout))
                    except TimeoutError:
                        return None
                    if message.get("type") == "ping":
                        send({"type": "pong"})
                        continue
                    return message

            def delivered(message):
                """Takes a message of the subscription; one that ends it is a failure."""
                kind = message.get("type")
                if kind == "next" and message.get("id") == "traces":
                    answer = message.get("payload") or {}
                    if answer.get("errors") or not answer.get("data"):
                        raise SystemExit(f"the subscription delivered an error: {answer}")
                    events.append(answer["data"]["traceRecorded"]["traceNumber"])
                elif kind == "error":
                    raise SystemExit(f"the hub refused the subscription: {message.get('payload')}")
                elif kind == "complete":
                    raise SystemExit(f"the hub ended the subscription after {len(events)} events")
                elif kind != "pong":
                    raise SystemExit(f"an unexpected message on the subscription: {message}")

            send({"type": "connection_init", "payload": payload})
            ack = receive(30)
            if ack is None or ack.get("type") != "connection_ack":
                raise SystemExit(f"the hub did not acknowledge the connection: {ack}")
            send(
                {
                    "type": "subscribe",
                    "id": "traces",
                    "payload": {"query": SUBSCRIPTION, "variables": {"filter": filter_}},
                }
            )
            # The hub admits a subscribe (or answers it with an error) before it reads the
            # connection's next message: once the pong is here, the subscription is live.
            send({"type": "ping"})
            while True:
                message = receive(30)
                if message is None:
                    raise SystemExit("the hub did not answer the ping after the subscribe")
                if message.get("type") == "pong":
                    break
                delivered(message)
            print("subscribed", file=sys.stderr, flush=True)

            deadline = time.monotonic() + WAIT
            while len(events) < EVENTS:
                message = receive(max(0.0, deadline - time.monotonic()))
                if message is None:
                    raise SystemExit(
                        f"the subscription received {len(events)} of {EVENTS} events"
                        f" within {WAIT:g} s: {events}"
                    )
                delivered(message)
            # Whatever had already arrived (an error the hub sent as the subscription started).
            while (message := receive(0)) is not None:
                delivered(message)
            send({"type": "complete", "id": "traces"})
    except ConnectionClosed as error:
        raise SystemExit(closed(error))
    except (InvalidHandshake, OSError) as error:
        raise SystemExit(f"the WebSocket to {websocket_url()} failed: {error}")
    return events


def main():
    s = session()
    filter_ = {"recoveryState": STATES}
    rows, pages, total = every_page(s, filter_)
    apq, data = persisted(s, COUNT, {"filter": filter_})
    exported, withheld = export(s, filter_)
    events = subscribe(filter_)
    report = {
        "pages": pages,
        "rows": len(rows),
        "totalCount": total,
        "apq": apq,
        "apqTotalCount": data["traces"]["totalCount"],
        "exportRows": len(exported),
        "exportWithheldFields": withheld,
        "subscribed": True,
        "events": events,
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
