#!/usr/bin/env python3
"""Failover drill against the topology of deploy/ha/up.sh.

For each scenario, a bounded load goes through the hub's address (HAProxy in front of the hub
replicas): writers as CBP and as ICE record seizures, each with a unique case number (the natural
key), and readers list and count as several roles. After a warm-up, one part is killed with
SIGKILL:

  leader   the Patroni leader's machine, as far as one machine can show it: its Patroni process,
           its PostgreSQL postmaster and every backend of it at once. Patroni's leader key then
           expires (ttl) and the synchronous standby is promoted.
  replica  the synchronous standby's Patroni and PostgreSQL, the same way. The primary waits for
           the standby until Patroni names the other replica synchronous.
  hub      one hub replica process. HAProxy takes it out of rotation.

The load goes on until writes succeed again and for a while after; then the killed part is started
again and the cluster is let settle. Each scenario reports the time from the kill to the first
acknowledged write, every error answer by HTTP status and code (and whether the proxy or the hub
gave it), and reconciles on the primary, in SQL: every acknowledged write must be there (lost: 0)
and every row of the run must come from an acknowledged or an in-doubt write (phantom: 0). A write
is in doubt when its answer says nothing of its outcome: no answer at all, or 503 UNAVAILABLE,
which the hub gives when the database connection failed, possibly while the commit was on its way.
Such writes may or may not be present; the report counts both. `firearms-hub audit verify` then
checks the audit trail's hash chain on the new primary.

Targets (exit 1 when one is missed): first acknowledged write at most 30 s after each kill, 0 lost,
0 phantom, no HTTP 500 (nor any error answer other than 503 UNAVAILABLE), audit chain intact.

Also `drill.py --state DIR token ROLE [SCOPE]`: prints a token signed with the deployment's key.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import jwt
import psycopg2
import requests

ISSUER = AUDIENCE = "firearms-hub"
KID = "ha-drill"
PURPOSE = "failover drill"
FIRST_WRITE_TARGET_S = 30.0

RECORD_SEIZURE = (
    "mutation($i: SeizureInput!) { recordSeizure(input: $i) { id caseNumber seizingAgency } }"
)
READS = [
    ("CBP", "query { seizures(first: 20, orderBy: [{field: SEIZED_ON, direction: DESC}]) { totalCount nodes { caseNumber firearmCount } } }"),
    ("ICE", "query { seizures(first: 10) { nodes { caseNumber operation } } }"),
    ("ATF", "query { traces(first: 20, filter: {recoveryState: [\"MX-SON\"]}) { nodes { traceNumber firearm { manufacturer } } } }"),
    ("OVERSIGHT", "query { seizureStats(groupBy: [FISCAL_YEAR]) { total buckets { count suppressed } } }"),
]


def token(state, role, scope=None, ttl=7200):
    key = open(os.path.join(state, "secrets", "token-key.pem")).read()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"ha-drill-{role.lower()}", "role": role,
              "iat": now, "nbf": now - 5, "exp": now + ttl}
    if scope:
        claims["scope"] = scope
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": KID})


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Topology:
    def __init__(self, state):
        self.state = state
        self.t = json.load(open(os.path.join(state, "topology.json")))
        self.superuser_password = open(os.path.join(state, "secrets", "postgres")).read().strip()

    def cluster(self):
        for node in self.t["nodes"].values():
            try:
                r = requests.get(f"http://127.0.0.1:{node['rest_port']}/cluster", timeout=2)
                if r.ok:
                    return r.json()
            except requests.RequestException:
                pass
        return {"members": []}

    def members(self, role):
        return [m["name"] for m in self.cluster()["members"] if m.get("role") == role]

    def leader(self):
        leaders = self.members("leader")
        return leaders[0] if leaders else None

    def healthy(self):
        """Three members, one leader, a synchronous standby, every replica streaming."""
        members = self.cluster()["members"]
        return (len(members) == 3
                and sum(m.get("role") == "leader" for m in members) == 1
                and any(m.get("role") == "sync_standby" for m in members)
                and all(m.get("state") in ("running", "streaming") for m in members))

    def pid(self, name):
        try:
            return int(open(os.path.join(self.state, "run", f"{name}.pid")).read().strip())
        except (OSError, ValueError):
            return None

    def postmaster(self, node):
        try:
            return int(open(os.path.join(self.state, node, "data", "postmaster.pid")).readline().strip())
        except (OSError, ValueError):
            return None

    def connect(self, node, db="hub"):
        port = self.t["nodes"][node]["pg_port"]
        return psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=db,
                                password=self.superuser_password, connect_timeout=3)

    def database_url(self, node):
        port = self.t["nodes"][node]["pg_port"]
        return f"postgres://postgres:{self.superuser_password}@127.0.0.1:{port}/hub"


def children(pid):
    """The processes whose parent is pid (a postmaster's backends)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def kill9(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.answers = Counter()   # (status, code, answered_by) -> count, errors only
        self.ok = Counter()        # "write" / "read" -> count
        self.sent = set()
        self.acked = {}            # key -> time acknowledged (monotonic)
        self.in_doubt = set()
        self.refused = set()
        self.unexpected = []       # descriptions of answers that miss the target


def classify(response, failure=None):
    """(status, code, answered_by) of an answer; code None for success."""
    if response is None:
        return 0, f"connection closed ({type(failure).__name__})", "-"
    by = "proxy" if response.headers.get("X-Answered-By") == "proxy" else "hub"
    try:
        body = response.json()
    except ValueError:
        return response.status_code, "not JSON", by
    errors = body.get("errors") if isinstance(body, dict) else None
    if not errors:
        return response.status_code, None, by
    codes = sorted({(e.get("extensions") or {}).get("code") or "none" for e in errors})
    return response.status_code, ",".join(codes), by


def writer(hub, tally, agency, token_, run, worker, stop):
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token_}", "X-Access-Purpose": PURPOSE}
    i = 0
    while not stop.is_set():
        key = f"{run}-{agency}-{worker}-{i}"
        i += 1
        variables = {"i": {
            "caseNumber": key, "seizingAgency": agency, "operation": run,
            "seizedOn": "2026-11-0%d" % (1 + i % 9), "usState": "AZ", "portOfEntry": "Nogales",
            "direction": "OUTBOUND", "ammunitionRounds": i % 500,
            "firearms": [{"manufacturer": "DrillArms", "type": "RIFLE", "serialNumber": f"SN{key}"}],
        }}
        with tally.lock:
            tally.sent.add(key)
        try:
            response = session.post(hub, json={"query": RECORD_SEIZURE, "variables": variables},
                                    headers=headers, timeout=30)
            failure = None
        except requests.RequestException as e:
            response, failure = None, e
            session = requests.Session()
        status, code, by = classify(response, failure)
        now = time.monotonic()
        with tally.lock:
            if response is not None and status == 200 and code is None and \
                    ((response.json().get("data") or {}).get("recordSeizure") or {}).get("caseNumber") == key:
                tally.acked[key] = now
                tally.ok["write"] += 1
            else:
                tally.answers[(status, code, by)] += 1
                if status == 0 or (status == 503 and code == "UNAVAILABLE"):
                    tally.in_doubt.add(key)
                else:
                    tally.refused.add(key)
            if status != 0 and code is not None and not (status == 503 and code == "UNAVAILABLE"):
                tally.unexpected.append(f"write {key}: HTTP {status} {code} from the {by}")
        if response is not None and status == 503:
            time.sleep(min(float(response.headers.get("Retry-After", "1") or 1), 1.0) * 0.25)


def reader(hub, tally, tokens, worker, stop):
    session = requests.Session()
    i = worker
    while not stop.is_set():
        role, query = READS[i % len(READS)]
        i += 1
        try:
            response = session.post(hub, json={"query": query},
                                    headers={"Authorization": f"Bearer {tokens[role]}",
                                             "X-Access-Purpose": PURPOSE}, timeout=30)
            failure = None
        except requests.RequestException as e:
            response, failure = None, e
            session = requests.Session()
        status, code, by = classify(response, failure)
        with tally.lock:
            if status == 200 and code is None:
                tally.ok["read"] += 1
            else:
                tally.answers[(status, code, by)] += 1
                if status != 0 and not (status == 503 and code == "UNAVAILABLE"):
                    tally.unexpected.append(f"read as {role}: HTTP {status} {code} from the {by}")
        if response is not None and status == 503:
            time.sleep(0.25)


def wait_until(what, predicate, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    log(f"timed out after {limit:.0f}s waiting for {what}")
    return False


def ctl(*args):
    subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "ctl.sh"), *args], check=True)


def scenario(topo, name, args, tokens):
    hub = topo.t["hub_url"] + "/graphql"
    run = f"DRILL-{name.upper()}-{uuid.uuid4().hex[:8]}"
    tally = Tally()
    stop = threading.Event()
    threads = []
    for w in range(args.writers):
        agency = "CBP" if w % 2 == 0 else "ICE"
        threads.append(threading.Thread(target=writer, args=(hub, tally, agency, tokens[agency], run, w, stop), daemon=True))
    for w in range(args.readers):
        threads.append(threading.Thread(target=reader, args=(hub, tally, tokens, w, stop), daemon=True))
    result = {"name": name, "run": run, "notes": []}

    leader_before = topo.leader()
    log(f"{name}: load for {args.warmup:.0f}s before the kill (leader {leader_before})")
    started = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.warmup)

    # --- the kill --------------------------------------------------------------------------------
    if name in ("leader", "replica"):
        if name == "leader":
            victim = leader_before
        else:
            syncs = topo.members("sync_standby")
            victim = syncs[0] if syncs else topo.members("replica")[0]
        patroni, postmaster = topo.pid(f"patroni-{victim}"), topo.postmaster(victim)
        pids = [p for p in (patroni, postmaster) if p] + (children(postmaster) if postmaster else [])
        result["killed"] = f"{victim} ({'leader' if name == 'leader' else 'synchronous standby'}): Patroni pid {patroni}, postmaster pid {postmaster} and {len(pids) - 2} backends"
    else:
        victim = "hub1"
        pids = [topo.pid(victim)]
        result["killed"] = f"hub replica {victim} (pid {pids[0]})"
    with tally.lock:
        acked_before = len(tally.acked)
    killed_at = time.monotonic()
    kill9([p for p in pids if p])
    log(f"{name}: killed {result['killed']}")
    promoted = {}
    if name == "leader":
        # When Patroni's view first names another leader: the failover's own share of the time.
        def watch_leader():
            while not stop.is_set() and "at" not in promoted:
                if topo.leader() not in (None, victim):
                    promoted["at"] = time.monotonic()
                time.sleep(0.2)
        threading.Thread(target=watch_leader, daemon=True).start()

    # --- until writes succeed again, and a while after --------------------------------------------
    def first_write_after():
        with tally.lock:
            after = [t for t in tally.acked.values() if t > killed_at]
        return min(after) if after else None

    recovered = wait_until("an acknowledged write after the kill", lambda: first_write_after() is not None, args.max_recovery)
    first = first_write_after()
    result["first_write_s"] = None if first is None else first - killed_at
    if name == "leader":
        wait_until("a new leader", lambda: topo.leader() not in (None, victim), 30)
        result["new_leader"] = topo.leader()
        result["leader_after_s"] = promoted["at"] - killed_at if "at" in promoted else None
    time.sleep(args.after)
    stop.set()
    for t in threads:
        t.join(timeout=40)
    elapsed = time.monotonic() - started
    if any(t.is_alive() for t in threads):
        tally.unexpected.append("a load thread did not finish within 40 s of the stop")

    with tally.lock:
        acked_times = sorted(tally.acked.values())
    gaps = [b - a for a, b in zip(acked_times, acked_times[1:])]
    result["longest_write_gap_s"] = max(gaps) if gaps else None
    result["acked_before_kill"] = acked_before
    result["elapsed_s"] = elapsed

    # --- reconciliation on the primary -----------------------------------------------------------
    wait_until("a leader for reconciliation", lambda: topo.leader() is not None, 60)
    primary = topo.leader()
    result["reconciled_on"] = primary
    with topo.connect(primary) as conn, conn.cursor() as cur:
        cur.execute("select case_number from seizure where operation = %s", (run,))
        present = {row[0] for row in cur.fetchall()}
        cur.execute("select pg_is_in_recovery()")
        result["reconciled_on_primary"] = not cur.fetchone()[0]
    conn.close()
    acked = set(tally.acked)
    result["sent"] = len(tally.sent)
    result["acked"] = len(acked)
    result["present"] = len(present)
    result["lost"] = sorted(acked - present)
    result["phantom"] = sorted(present - acked - tally.in_doubt)
    result["in_doubt_present"] = len(tally.in_doubt & present)
    result["in_doubt_absent"] = len(tally.in_doubt - present)
    result["refused"] = len(tally.refused)
    result["reads_ok"] = tally.ok["read"]
    result["answers"] = sorted(((s, c, b, n) for (s, c, b), n in tally.answers.items()), key=lambda x: -x[3])
    result["unexpected"] = tally.unexpected[:20]
    result["unexpected_count"] = len(tally.unexpected)
    verify = subprocess.run([topo.t["hub_bin"], "audit", "verify", "--database-url", topo.database_url(primary)],
                            capture_output=True, text=True, timeout=300, cwd=topo.state,
                            env={**os.environ, "HUB_LOG_LEVEL": "warn"})
    result["audit_verify"] = (verify.returncode, (verify.stdout + verify.stderr).strip().splitlines()[-1:] or [""])

    # --- start the killed part again, let the cluster settle -------------------------------------
    if name in ("leader", "replica"):
        ctl("start", victim)
        settled = wait_until(f"{victim} to rejoin and the cluster to settle", topo.healthy, args.max_settle)
        result["notes"].append(f"{victim} started again; cluster healthy again: {settled}")
        result["settled"] = settled
    else:
        ctl("start", victim)
        port = topo.t["hubs"][victim]["port"]
        settled = wait_until(f"{victim} to be ready", lambda: _ready(port), 120)
        result["settled"] = settled
        result["notes"].append(f"{victim} started again; ready: {settled}")

    targets = []
    if result["first_write_s"] is None or result["first_write_s"] > FIRST_WRITE_TARGET_S:
        targets.append(f"first write after the kill {fmt_s(result['first_write_s'])} (target <= {FIRST_WRITE_TARGET_S:.0f} s)")
    if result["lost"]:
        targets.append(f"{len(result['lost'])} acknowledged writes lost, e.g. {result['lost'][:3]}")
    if result["phantom"]:
        targets.append(f"{len(result['phantom'])} phantom rows, e.g. {result['phantom'][:3]}")
    if result["unexpected_count"]:
        targets.append(f"{result['unexpected_count']} answers other than success or 503 UNAVAILABLE")
    if result["audit_verify"][0] != 0:
        targets.append(f"audit verify exited {result['audit_verify'][0]}: {result['audit_verify'][1]}")
    if not result["reconciled_on_primary"]:
        targets.append("reconciliation did not run on a primary")
    if result["acked"] - acked_before < 1:
        targets.append("no write was acknowledged after the kill")
    if not result["settled"]:
        targets.append("the killed part did not come back")
    result["missed"] = targets
    return result


def _ready(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def fmt_s(v):
    return "none" if v is None else f"{v:.1f} s"


def answer_counts(r):
    unavailable = sum(n for s, c, _, n in r["answers"] if s == 503 and c == "UNAVAILABLE")
    five_hundred = sum(n for s, _, _, n in r["answers"] if s == 500)
    none = sum(n for s, _, _, n in r["answers"] if s == 0)
    other = sum(n for _, _, _, n in r["answers"]) - unavailable - five_hundred - none
    return f"{unavailable} / {five_hundred} / {other} / {none}"


def report(results, args):
    lines = ["# Failover drill report", "",
             f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {'short' if args.short else 'full'} form: "
             f"{args.writers} writers (CBP and ICE alternately), {args.readers} readers, "
             f"{args.warmup:.0f} s of load before each kill and {args.after:.0f} s after writes resume.", "",
             "| drill | killed | first write after kill | longest write gap | acknowledged | present | lost | phantom | in doubt (present / absent) | reads ok | 503 UNAVAILABLE / 500 / other / no answer | audit verify | targets |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['killed']} | {fmt_s(r['first_write_s'])} | {fmt_s(r['longest_write_gap_s'])} | "
            f"{r['acked']} | {r['present']} | {len(r['lost'])} | {len(r['phantom'])} | "
            f"{r['in_doubt_present']} / {r['in_doubt_absent']} | {r['reads_ok']} | {answer_counts(r)} | "
            f"{'intact' if r['audit_verify'][0] == 0 else 'exit %d' % r['audit_verify'][0]} | "
            f"{'met' if not r['missed'] else 'MISSED'} |")
    for r in results:
        lines += ["", f"## {r['name']}", ""]
        lines.append(f"- killed: {r['killed']}")
        if "new_leader" in r:
            lines.append(f"- new leader: {r['new_leader']}, named by Patroni {fmt_s(r.get('leader_after_s'))} after the kill "
                         f"(the leader key's ttl is 20 s from its last renewal)")
        lines.append(f"- writes sent {r['sent']}, acknowledged {r['acked']} ({r['acked_before_kill']} before the kill), "
                     f"refused {r['refused']}, in doubt {r['in_doubt_present'] + r['in_doubt_absent']}")
        lines.append(f"- reconciled on {r['reconciled_on']} (primary: {r['reconciled_on_primary']}): "
                     f"{r['present']} rows of the run present")
        lines.append(f"- audit verify on {r['reconciled_on']}: exit {r['audit_verify'][0]} ({r['audit_verify'][1][0] if r['audit_verify'][1] else ''})")
        if r["answers"]:
            lines.append("- error answers (HTTP status, code, answered by, count):")
            for status, code, by, n in r["answers"]:
                lines.append(f"  - {status if status else 'no answer'} {code} ({by}): {n}")
        else:
            lines.append("- error answers: none")
        for note in r["notes"]:
            lines.append(f"- {note}")
        for u in r["unexpected"]:
            lines.append(f"- unexpected: {u}")
        lines.append(f"- targets: {'met' if not r['missed'] else 'MISSED: ' + '; '.join(r['missed'])}")
    lines += ["", "A write is *in doubt* when it got no answer or 503 UNAVAILABLE: the database connection "
              "failed and the commit may or may not have happened; such rows are neither lost nor phantom. "
              "*Phantom*: a row of the run whose write was neither acknowledged nor in doubt. "
              "*No answer*: the connection closed before any response. HAProxy does this on purpose for a "
              "request on a reused (keep-alive) client connection whose hub replica died before answering, "
              "as HTTP's rule for persistent connections lets the client retry; the first request of a "
              "connection gets the proxy's 503 UNAVAILABLE instead. Such requests are counted, not "
              "treated as error answers."]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--state", required=True, help="the topology's state folder (HA_DIR)")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("token", help="print a token signed with the deployment's key")
    t.add_argument("role")
    t.add_argument("scope", nargs="?")
    d = sub.add_parser("drill", help="run the drills")
    d.add_argument("--short", action="store_true", help="the bounded form CI runs")
    d.add_argument("--only", choices=["leader", "replica", "hub"], action="append")
    d.add_argument("--report", help="write the report here (default: STATE/drill-report.md)")
    args = p.parse_args()
    if args.command == "token":
        print(token(args.state, args.role, args.scope))
        return 0

    args.writers, args.readers = (4, 2) if args.short else (6, 3)
    args.warmup, args.after = (5.0, 5.0) if args.short else (20.0, 20.0)
    args.max_recovery, args.max_settle = 60.0, 180.0
    topo = Topology(args.state)
    tokens = {role: token(args.state, role) for role in ("ATF", "ICE", "CBP", "STATE", "OVERSIGHT")}
    if not wait_until("a healthy cluster before the drill", topo.healthy, 60):
        return 1
    results = []
    for name in args.only or ["leader", "replica", "hub"]:
        results.append(scenario(topo, name, args, tokens))
    text = report(results, args)
    path = args.report or os.path.join(args.state, "drill-report.md")
    with open(path, "w") as f:
        f.write(text)
    print(text)
    missed = [r["name"] for r in results if r["missed"]]
    if missed:
        log(f"drill: targets missed in {', '.join(missed)}; report in {path}")
        return 1
    log(f"drill: every target met; report in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
