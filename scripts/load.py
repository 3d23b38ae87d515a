#!/usr/bin/env python3
"""Concurrent mixed reads and writes against a running hub, then reconciliation.

Threads send a bounded number of requests (and stop at a time limit): reads as several roles, and
writes that each carry a unique key (createTrace as ATF with a unique trace number, recordSeizure as
CBP with a unique case number). Every acknowledged write is recorded. Afterwards the API is asked
for every record of this run and for the totals: each acknowledged write must be present, nothing
refused may be present, and the totals must have grown by exactly the acknowledged writes. A run in
which fewer than --min-acked writes of either kind were acknowledged fails too: reconciling nothing
proves nothing.

Standard library only. Exit status: 0 when all holds, 1 otherwise.
"""

import argparse
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

# Recovery year of every trace this script creates: one no demo record has, so the run's traces
# can be listed through the API's own `year` filter.
LOAD_YEAR = 2001


class Hub:
    def __init__(self, url, tokens, timeout):
        self.url = url
        self.tokens = tokens
        self.timeout = timeout

    def post(self, role, query, variables=None):
        """Returns (status, body or None). status 0 is a transport failure (outcome unknown)."""
        data = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url,
            data=data,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.tokens[role]}",
                "X-Access-Purpose": "local load test",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read())
            except ValueError:
                body = None
            return e.code, body
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
            return 0, None


READS = [
    ("ATF", "query($s: [String!]) { traces(first: 20, filter: {recoveryState: $s}) { totalCount nodes { traceNumber firearm { manufacturer } } } }",
     lambda r: {"s": [r.choice(["MX-SON", "MX-JAL", "MX-TAM", "MX-CHH", "MX-BCN"])]}),
    ("ICE", "{ traceStats(groupBy: [YEAR, SOURCE_CLASS]) { total buckets { count key { year sourceClass } } } }", lambda r: {}),
    ("CBP", "query($n: Int) { seizures(first: $n, orderBy: [{field: SEIZED_ON, direction: DESC}]) { totalCount nodes { caseNumber firearmCount } } }",
     lambda r: {"n": r.randint(1, 50)}),
    ("STATE", "{ fundingStats(groupBy: [FISCAL_YEAR]) { total obligated buckets { count obligated } } }", lambda r: {}),
    ("OVERSIGHT", "{ seizureStats(groupBy: [FISCAL_YEAR, PORT_OF_ENTRY]) { total buckets { count suppressed } } }", lambda r: {}),
    ("ATF", "{ me { role } }", lambda r: {}),
]

CREATE_TRACE = "mutation($i: TraceInput!) { createTrace(input: $i) { id traceNumber } }"
RECORD_SEIZURE = "mutation($i: SeizureInput!) { recordSeizure(input: $i) { id caseNumber firearmCount } }"


def trace_input(key, r):
    return {
        "traceNumber": key,
        "requestingAgency": "FGR",
        "recoveryDate": f"{LOAD_YEAR}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        "recoveryState": r.choice(["MX-SON", "MX-CHH", "MX-TAM"]),
        "status": "PENDING",
        "sourceClass": "UNDETERMINED",
        "firearm": {"manufacturer": "LoadTest", "type": "PISTOL", "serialNumber": f"SN{key}"},
    }


def seizure_input(key, operation, r):
    return {
        "caseNumber": key,
        "seizingAgency": "CBP",
        "operation": operation,
        "seizedOn": f"2023-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
        "usState": "AZ",
        "portOfEntry": "Nogales",
        "direction": "OUTBOUND",
        "ammunitionRounds": r.randint(0, 500),
        "firearms": [{"manufacturer": "LoadTest", "type": "RIFLE", "serialNumber": f"SN{key}"}],
    }


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = Counter()
        self.failures = Counter()  # 5xx, INTERNAL errors, unexpected bodies, by kind
        self.acked = {"trace": set(), "seizure": set()}
        self.refused = {"trace": set(), "seizure": set()}
        self.unknown = {"trace": set(), "seizure": set()}  # transport failure: may or may not exist
        self.latencies = []

    def failure(self, text):
        with self.lock:
            self.failures[text] += 1


def codes(body):
    if not isinstance(body, dict):
        return []
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def worker(hub, tally, index, count, deadline, run, seed):
    r = random.Random(seed * 1000 + index)
    for i in range(count):
        if time.monotonic() > deadline:
            return
        kind = r.random()
        started = time.monotonic()
        if kind < 0.3:
            entity, role = "trace", "ATF"
            key = f"LT-{run}-{index}-{i}"
            status, body = hub.post(role, CREATE_TRACE, {"i": trace_input(key, r)})
            field = "createTrace"
        elif kind < 0.6:
            entity, role = "seizure", "CBP"
            key = f"LS-{run}-{index}-{i}"
            status, body = hub.post(role, RECORD_SEIZURE, {"i": seizure_input(key, f"LOAD-{run}", r)})
            field = "recordSeizure"
        else:
            entity = None
            role, query, variables = r.choice(READS)
            status, body = hub.post(role, query, variables(r))
        elapsed = time.monotonic() - started
        with tally.lock:
            tally.statuses[status] += 1
            tally.latencies.append(elapsed)
        if status >= 500:
            tally.failure(f"HTTP {status} for {entity or 'read'} as {role}")
        if "INTERNAL" in codes(body):
            tally.failure(f"INTERNAL error for {entity or 'read'} as {role}")
        if status == 200 and not isinstance(body, dict):
            tally.failure(f"200 without a JSON body as {role}")
        if entity is None:
            if status == 200 and isinstance(body, dict) and body.get("errors"):
                tally.failure(f"read as {role} answered errors {sorted(set(map(str, codes(body))))}")
            continue
        key_field = "traceNumber" if entity == "trace" else "caseNumber"
        data = (body or {}).get("data") or {}
        with tally.lock:
            if status == 0:
                tally.unknown[entity].add(key)
            elif status == 200 and not body.get("errors") and (data.get(field) or {}).get(key_field) == key:
                tally.acked[entity].add(key)
            else:
                tally.refused[entity].add(key)


def list_all(hub, role, connection, input_type, filter_value, key_field):
    """Every key of a connection under a filter, following cursors. Also returns totalCount."""
    keys, after, total = [], None, None
    query = (
        f"query($f: {input_type}, $after: String) {{ {connection}(filter: $f, first: 100, after: $after) "
        f"{{ totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {key_field} }} }} }}"
    )
    for _ in range(100_000):
        status, body = hub.post(role, query, {"f": filter_value, "after": after})
        if status != 200 or body.get("errors"):
            raise RuntimeError(f"listing {connection} failed: {status} {json.dumps(body)[:300]}")
        conn = body["data"][connection]
        total = conn["totalCount"]
        keys.extend(n[key_field] for n in conn["nodes"])
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    return keys, total


def totals(hub):
    _, body = hub.post("ATF", "{ traces(first: 1) { totalCount } }")
    traces = body["data"]["traces"]["totalCount"]
    _, body = hub.post("CBP", "{ seizures(first: 1) { totalCount } }")
    seizures = body["data"]["seizures"]["totalCount"]
    return traces, seizures


def run_keys(hub, run):
    traces, _ = list_all(hub, "ATF", "traces", "TraceFilter", {"year": {"min": LOAD_YEAR, "max": LOAD_YEAR}}, "traceNumber")
    seizures, _ = list_all(hub, "CBP", "seizures", "SeizureFilter", {"operation": [f"LOAD-{run}"]}, "caseNumber")
    return set(traces), set(seizures)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--tokens", required=True, help="JSON object: role -> token")
    p.add_argument("--requests", type=int, default=2000, help="total requests")
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--seconds", type=float, default=120, help="stop sending after this long")
    p.add_argument("--timeout", type=float, default=30, help="per request")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--min-acked",
        type=int,
        default=None,
        help="fewest acknowledged writes of each kind (trace, seizure) for a pass; "
        "default: one per 20 requests, at least 1",
    )
    args = p.parse_args()
    min_acked = args.min_acked if args.min_acked is not None else max(1, args.requests // 20)

    if not args.url.startswith(("http://127.0.0.1:", "http://localhost:")):
        sys.exit("load.py only sends traffic to a local hub (http://127.0.0.1:PORT/graphql)")
    hub = Hub(args.url, json.loads(args.tokens), args.timeout)
    run = f"{int(time.time())}{random.Random(args.seed).randint(0, 9999):04d}"

    before_traces, before_seizures = totals(hub)
    pre_t, pre_s = run_keys(hub, run)
    before_year = len(pre_t)  # traces the data already has in LOAD_YEAR (normally none)

    tally = Tally()
    deadline = time.monotonic() + args.seconds
    per_thread = [args.requests // args.threads + (1 if i < args.requests % args.threads else 0) for i in range(args.threads)]
    threads = [
        threading.Thread(target=worker, args=(hub, tally, i, n, deadline, run, args.seed), daemon=True)
        for i, n in enumerate(per_thread)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + args.timeout + 30)
    elapsed = time.monotonic() - started
    if any(t.is_alive() for t in threads):
        tally.failure("a load thread did not finish in time")

    after_traces, after_seizures = totals(hub)
    got_t, got_s = run_keys(hub, run)
    got_t -= pre_t

    problems = [f"{text}: {n} times" for text, n in tally.failures.most_common()]
    for entity, got, before, after in (
        ("trace", got_t, before_traces, after_traces),
        ("seizure", got_s, before_seizures, after_seizures),
    ):
        acked, refused, unknown = tally.acked[entity], tally.refused[entity], tally.unknown[entity]
        lost = acked - got
        extra = got - acked - unknown
        if lost:
            problems.append(f"{len(lost)} acknowledged {entity} writes are missing, e.g. {sorted(lost)[:5]}")
        if extra:
            problems.append(f"{len(extra)} {entity} rows were written without an acknowledgement, e.g. {sorted(extra)[:5]}")
        if refused & got:
            problems.append(f"refused {entity} writes are present: {sorted(refused & got)[:5]}")
        in_doubt_present = len(unknown & got)
        if after - before != len(acked) + in_doubt_present:
            problems.append(
                f"{entity} total went {before} -> {after} (+{after - before}); "
                f"acknowledged {len(acked)}, in doubt and present {in_doubt_present}"
            )
        if len(acked) < min_acked:
            problems.append(
                f"only {len(acked)} {entity} writes were acknowledged (at least {min_acked} required; "
                f"{len(refused)} refused, {len(unknown)} transport failures)"
            )
        print(
            f"{entity:8s} acknowledged {len(acked):5d}  refused {len(refused):4d}  "
            f"transport failures {len(unknown):3d}  present {len(got):5d}  total {before} -> {after}"
        )

    lat = sorted(tally.latencies)
    if lat:
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
        print(
            f"requests {len(lat)} in {elapsed:.1f}s ({len(lat) / elapsed:.0f}/s, {args.threads} threads); "
            f"latency p50 {pct(0.5):.0f} ms, p95 {pct(0.95):.0f} ms, p99 {pct(0.99):.0f} ms"
        )
    print("statuses " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items())))
    if tally.statuses.get(0):
        problems.append(f"{tally.statuses[0]} requests failed in transport (no answer)")
    if before_year:
        print(f"note: {before_year} traces recovered in {LOAD_YEAR} existed before the run")
    if problems:
        print("LOAD FAILED:")
        for problem in problems:
            print("  - " + problem)
        return 1
    print("load: every acknowledged write is present and nothing else was written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
