#!/usr/bin/env python3
"""The hub against PostGraphile on one PostgreSQL database (started by bench/peer.sh).

    peer.py check  --hub URL --token T --peer URL --db PGURL
    peer.py run    --hub URL --token T --peer URL --db PGURL --plan custom|generic --queries Q1,Q2 --out FILE
    peer.py floor  --db PGURL --plan custom|generic --queries Q1,Q2 --out FILE
    peer.py report --results FILE --markdown BENCHMARKS.md --settings JSON

`check` sends every query once to both sides and compares the ids they answer (exit 1 when they
differ); `run` drives each query with wrk, alternating hub and PostGraphile, for --rounds rounds;
`floor` runs the plain SQL with pgbench; `report` rewrites the peer section of BENCHMARKS.md.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timezone

PURPOSE = "local benchmark runs"
def markers(scale):
    """The comments around the peer section of one scale (scale 1 keeps the original names)."""
    tag = "peer" if str(scale) == "1" else f"peer-scale-{scale}"
    return f"<!-- {tag}:begin (bench/peer.sh rewrites this section) -->", f"<!-- {tag}:end -->"


def post(url, token, query):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
        headers["X-Access-Purpose"] = PURPOSE
    request = urllib.request.Request(url, data=json.dumps({"query": query}).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise SystemExit(f"{url} answered HTTP {error.code}: {error.read()[:600]!r}") from error
    if body.get("errors"):
        raise SystemExit(f"{url} answered errors: {json.dumps(body['errors'])[:600]}")
    return body["data"]


def psql(db, sql):
    return subprocess.run(["psql", db, "-Atqc", sql], check=True, capture_output=True, text=True).stdout.strip()


def parameters(db):
    """The rows the queries are about, chosen from the data: a trace in the middle of the table, and
    the state and year with the most traces in 2019."""
    trace_id = int(psql(db, "SELECT id FROM trace ORDER BY id OFFSET (SELECT COUNT(*) / 2 FROM trace) LIMIT 1"))
    state = psql(db, "SELECT recovery_state FROM trace WHERE recovery_year = 2019 "
                     "GROUP BY 1 ORDER BY COUNT(*) DESC, 1 LIMIT 1")
    return {"trace_id": trace_id, "state": state, "year": 2019}


# ---- the ids each side answers, in a comparable form ----

def linked(firearm, field):
    """A PostGraphile firearm's records of `field` (tracesByFirearmId, seizureFirearmsByFirearmId),
    its own and those of the records linked to it either way, as the hub follows links."""
    nodes = list(firearm[field]["nodes"])
    for link in firearm["firearmLinksByFirearmId"]["nodes"]:
        nodes += link["firearmByLinkedFirearmId"][field]["nodes"]
    for link in firearm["firearmLinksByLinkedFirearmId"]["nodes"]:
        nodes += link["firearmByFirearmId"][field]["nodes"]
    return nodes


def q1_hub(d):
    t = d["trace"]
    return [int(t["id"]), int(t["firearm"]["id"])]


def q1_peer(d):
    t = d["traceByRowId"]
    return [int(t["rowId"]), int(t["firearmByFirearmId"]["rowId"])]


def q2_hub(d):
    c = d["traces"]
    return [c["totalCount"], [[int(n["id"]), int(n["firearm"]["id"])] for n in c["nodes"]]]


def q2_peer(d):
    c = d["allTraces"]
    return [c["totalCount"], [[int(n["rowId"]), int(n["firearmByFirearmId"]["rowId"])] for n in c["nodes"]]]


def q3a_hub(d):
    return [[int(f["id"]),
             sorted(int(t["id"]) for t in f["traces"]["nodes"]),
             sorted([int(s["id"]), sorted(int(x["id"]) for x in s["firearms"])] for s in f["seizures"]["nodes"])]
            for f in d["firearms"]["nodes"]]


def q3a_peer(d):
    out = []
    for f in d["allFirearms"]["nodes"]:
        traces = sorted({int(t["rowId"]) for t in linked(f, "tracesByFirearmId")})
        seizures = {}
        for sf in linked(f, "seizureFirearmsByFirearmId"):
            s = sf["seizureBySeizureId"]
            seizures[int(s["rowId"])] = sorted(int(x["firearmByFirearmId"]["rowId"]) for x in s["seizureFirearmsBySeizureId"]["nodes"])
        out.append([int(f["rowId"]), traces, sorted([k, v] for k, v in seizures.items())])
    return out


def q3b_hub(d):
    return [[int(s["id"]), sorted([int(f["id"]), sorted(int(t["id"]) for t in f["traces"]["nodes"])] for f in s["firearms"])]
            for s in d["seizures"]["nodes"]]


def q3b_peer(d):
    out = []
    for s in d["allSeizures"]["nodes"]:
        firearms = []
        for sf in s["seizureFirearmsBySeizureId"]["nodes"]:
            f = sf["firearmByFirearmId"]
            firearms.append([int(f["rowId"]), sorted({int(t["rowId"]) for t in linked(f, "tracesByFirearmId")})])
        out.append([int(s["rowId"]), sorted(firearms)])
    return out


LINKS = ("firearmLinksByFirearmId {{ nodes {{ firearmByLinkedFirearmId {{ {inner} }} }} }} "
         "firearmLinksByLinkedFirearmId {{ nodes {{ firearmByFirearmId {{ {inner} }} }} }}")
PEER_TRACES = "tracesByFirearmId(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { rowId traceNumber } }"
PEER_SEIZURES = ("seizureFirearmsByFirearmId(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { seizureBySeizureId { "
                 "rowId seizedOn seizureFirearmsBySeizureId(orderBy: PRIMARY_KEY_ASC) { nodes { firearmByFirearmId { "
                 "rowId manufacturer } } } } } }")


def queries(p):
    """name -> (description, hub query, hub ids, peer query or None, peer ids, plain SQL)."""
    tid, state, year = p["trace_id"], p["state"], p["year"]
    page_where = f"t.recovery_state = '{state}' AND t.recovery_year = {year}"
    firearms20 = "SELECT id FROM firearm ORDER BY id LIMIT 20"
    seizures20 = "SELECT id FROM seizure ORDER BY seized_on DESC, id LIMIT 20"
    # The 20 first firearm records and every record holding their traces or seizures: their own
    # and those linked to them either way.
    holders20 = (f"f AS ({firearms20}), h AS (SELECT id AS firearm_id, id AS holder FROM f UNION "
                 "SELECT f.id, l.linked_firearm_id FROM f JOIN firearm_link l ON l.firearm_id = f.id UNION "
                 "SELECT f.id, l.firearm_id FROM f JOIN firearm_link l ON l.linked_firearm_id = f.id)")
    return {
        "Q1": ("one trace by id with its firearm",
               f'{{ trace(id: "{tid}") {{ id traceNumber recoveryDate recoveryState status sourceClass timeToCrimeDays '
               "firearm { id manufacturer type caliber serialNumber } } }",
               q1_hub,
               f"{{ traceByRowId(rowId: \"{tid}\") {{ rowId traceNumber recoveryDate recoveryState status sourceClass "
               "timeToCrimeDays firearmByFirearmId { rowId manufacturer firearmType caliber serialNumber } } }",
               q1_peer,
               "SELECT t.id, t.trace_number, t.recovery_date, t.recovery_state, t.status, t.source_class, "
               "t.time_to_crime_days, f.id, f.manufacturer, f.firearm_type, f.caliber, f.serial_number "
               f"FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE t.id = {tid};"),
        "Q2": (f"50 traces of one state and year ({state}, {year}), newest first, with firearms and `totalCount`",
               f'{{ traces(first: 50, filter: {{recoveryState: ["{state}"], year: {{min: {year}, max: {year}}}}}, '
               "orderBy: [{field: RECOVERY_DATE, direction: DESC}]) { totalCount nodes { id traceNumber recoveryDate "
               "firearm { id manufacturer type caliber serialNumber } } } }",
               q2_hub,
               f'{{ allTraces(first: 50, condition: {{recoveryState: "{state}", recoveryYear: {year}}}, '
               "orderBy: [RECOVERY_DATE_DESC, PRIMARY_KEY_ASC]) { totalCount nodes { rowId traceNumber recoveryDate "
               "firearmByFirearmId { rowId manufacturer firearmType caliber serialNumber } } } }",
               q2_peer,
               "SELECT t.id, t.trace_number, t.recovery_date, f.id, f.manufacturer, f.firearm_type, f.caliber, "
               f"f.serial_number FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE {page_where} "
               "ORDER BY t.recovery_date DESC, t.id LIMIT 51;\n"
               f"SELECT COUNT(*) FROM trace t WHERE {page_where};"),
        "Q3a": ("20 firearms → their traces, their seizures → those seizures' firearms",
                "{ firearms(first: 20) { nodes { id manufacturer traces(first: 20) { nodes { id traceNumber } } "
                "seizures(first: 20) { nodes { id seizedOn firearms { id manufacturer } } } } } }",
                q3a_hub,
                "{ allFirearms(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { rowId manufacturer "
                + PEER_TRACES + " " + PEER_SEIZURES + " "
                + LINKS.format(inner=PEER_TRACES + " " + PEER_SEIZURES) + " } } }",
                q3a_peer,
                "SELECT id, manufacturer FROM firearm ORDER BY id LIMIT 20;\n"
                f"WITH {holders20} SELECT h.firearm_id, t.id, t.trace_number FROM h JOIN trace t ON t.firearm_id = h.holder;\n"
                f"WITH {holders20} SELECT h.firearm_id, s.id, s.seized_on, f2.id, f2.manufacturer FROM h "
                "JOIN seizure_firearm sf ON sf.firearm_id = h.holder JOIN seizure s ON s.id = sf.seizure_id "
                "JOIN seizure_firearm sf2 ON sf2.seizure_id = s.id JOIN firearm f2 ON f2.id = sf2.firearm_id;"),
        "Q3b": ("20 newest seizures → firearms → their traces",
                "{ seizures(first: 20, orderBy: [{field: SEIZED_ON, direction: DESC}]) { nodes { id seizedOn "
                "firearms { id manufacturer traces(first: 20) { nodes { id traceNumber } } } } } }",
                q3b_hub,
                "{ allSeizures(first: 20, orderBy: [SEIZED_ON_DESC, PRIMARY_KEY_ASC]) { nodes { rowId seizedOn "
                "seizureFirearmsBySeizureId(orderBy: PRIMARY_KEY_ASC) { nodes { firearmByFirearmId { rowId manufacturer "
                + PEER_TRACES + " " + LINKS.format(inner=PEER_TRACES) + " } } } } } }",
                q3b_peer,
                f"SELECT id, seized_on FROM seizure ORDER BY seized_on DESC, id LIMIT 20;\n"
                "SELECT sf.seizure_id, f.id, f.manufacturer FROM seizure_firearm sf JOIN firearm f ON f.id = sf.firearm_id "
                f"WHERE sf.seizure_id IN ({seizures20});\n"
                "SELECT x.firearm_id, t.id, t.trace_number FROM (SELECT sf.firearm_id, sf.firearm_id AS holder "
                f"FROM seizure_firearm sf WHERE sf.seizure_id IN ({seizures20}) UNION ALL SELECT sf.firearm_id, "
                "l.linked_firearm_id FROM seizure_firearm sf JOIN firearm_link l ON l.firearm_id = sf.firearm_id "
                f"WHERE sf.seizure_id IN ({seizures20}) UNION ALL SELECT sf.firearm_id, l.firearm_id FROM seizure_firearm sf "
                f"JOIN firearm_link l ON l.linked_firearm_id = sf.firearm_id WHERE sf.seizure_id IN ({seizures20})) x "
                "JOIN trace t ON t.firearm_id = x.holder;"),
        "Q4": ("`traceStats(groupBy: [YEAR, SOURCE_CLASS])` with median time-to-crime",
               "{ traceStats(groupBy: [YEAR, SOURCE_CLASS]) { total buckets { key { year sourceClass } count "
               "medianTimeToCrimeDays } } }",
               lambda d: d["traceStats"]["total"],
               None, None,
               "SELECT recovery_year, source_class, COUNT(*), "
               "percentile_disc(0.5) WITHIN GROUP (ORDER BY time_to_crime_days) FROM trace GROUP BY 1, 2;"),
    }


def check(args):
    p = parameters(args.db)
    ok = True
    for name, (_, hub_q, hub_ids, peer_q, peer_ids, _) in queries(p).items():
        hub = hub_ids(post(args.hub, args.token, hub_q))
        if peer_q is None:
            print(f"{name}: hub answers (PostGraphile has no aggregates)", file=sys.stderr)
            continue
        peer = peer_ids(post(args.peer, None, peer_q))
        if hub != peer:
            ok = False
            print(f"{name}: the hub and PostGraphile answer different rows\n  hub:  {json.dumps(hub)[:800]}\n"
                  f"  peer: {json.dumps(peer)[:800]}", file=sys.stderr)
        else:
            print(f"{name}: same rows on both sides ({len(json.dumps(hub))} characters of ids)", file=sys.stderr)
    json.dump(p, sys.stdout)
    return 0 if ok else 1


WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
wrk.body = [==[{body}]==]
"""


def wrk(url, token, query, seconds, concurrency):
    auth = ""
    if token:
        auth = f'wrk.headers["Authorization"] = "Bearer {token}"\nwrk.headers["X-Access-Purpose"] = "{PURPOSE}"'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA.format(auth=auth, body=json.dumps({"query": query})))
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds}s", "--latency", "-s", script, url],
            check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {"rps": rps, "non_2xx": int(bad.group(1)) if bad else 0,
            "p50_ms": float(p50.group(1)) * scale[p50.group(2)] if p50 else None}


def run(args):
    p = json.loads(args.parameters)
    qs = queries(p)
    with open(args.out, "a") as out:
        for name in args.queries.split(","):
            desc, hub_q, _, peer_q, _, _ = qs[name]
            for round_ in range(1, args.rounds + 1):
                row = {"query": name, "plan": args.plan, "round": round_, "description": desc}
                row["hub"] = wrk(args.hub, args.token, hub_q, args.seconds, args.concurrency)
                if peer_q is not None:
                    row["peer"] = wrk(args.peer, None, peer_q, args.seconds, args.concurrency)
                print(f"{name} [{args.plan}] round {round_}: hub {row['hub']['rps']:.0f} req/s"
                      + (f", PostGraphile {row['peer']['rps']:.0f} req/s" if "peer" in row else ""), file=sys.stderr)
                out.write(json.dumps(row) + "\n")
                out.flush()
    return 0


def floor(args):
    p = json.loads(args.parameters)
    qs = queries(p)
    with open(args.out, "a") as out:
        for name in args.queries.split(","):
            sql = qs[name][5]
            with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
                f.write(sql + "\n")
                script = f.name
            try:
                res = subprocess.run(
                    ["pgbench", "-n", "-M", "prepared", "-c", str(args.concurrency), "-j", "2", "-T", str(args.seconds),
                     "-f", script, args.db], check=True, capture_output=True, text=True).stdout
            finally:
                os.unlink(script)
            tps = float(re.search(r"tps = ([\d.]+)", res).group(1))
            print(f"{name} [{args.plan}] plain SQL {tps:.0f}/s", file=sys.stderr)
            out.write(json.dumps({"query": name, "plan": args.plan, "floor": tps}) + "\n")
    return 0


def ratio(x):
    return f"{x:.2f}" if x >= 0.1 else f"{x:.4f}"


def report(args):
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    settings = json.loads(args.settings)
    runs = [r for r in rows if "hub" in r]
    floors = {(r["query"], r["plan"]): r["floor"] for r in rows if "floor" in r}
    begin, end = markers(settings["scale"])
    lines = [
        begin,
        "## The hub against PostGraphile" + ("" if str(settings["scale"]) == "1" else f" at scale {settings['scale']}"),
        "",
        f"Measured by `bench/peer.sh {settings['scale']}` ({datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"commit `{settings['commit']}`) on one PostgreSQL {settings['pg_version']} database filled with "
        f"`demo-data --scale {settings['scale']} --seed {settings['seed']}` and analysed ({settings['sizes']}).",
        f"The hub: release build, `--development` (development token as ATF, stating a purpose), rate limit off, "
        f"log level warn, plain TCP to PostgreSQL on loopback (`sslmode=disable`, as PostGraphile's client). PostGraphile {settings['postgraphile']} (amber preset, Node {settings['node']}, "
        "`NODE_ENV=production`) on the same database as its superuser, so it enforces nothing; the hub verifies "
        "the token, applies the policy and appends an audit event on every request.",
        f"Load: `wrk` ({settings['wrk']}), {settings['concurrency']} connections, {settings['seconds']} s per query "
        f"and side, alternating hub and PostGraphile, {settings['rounds']} rounds. Before timing, each query was sent "
        "once to both sides and the ids they answered compared (the same rows). Plain SQL: `pgbench -M prepared` "
        "with the equivalent statements at the same concurrency, once.",
        f"Peak memory (`VmHWM`) after the custom-plan runs: the hub {settings['rss_hub']} MiB, PostGraphile "
        f"{settings['rss_peer']} MiB.",
        "The generic-plan rows ran with `ALTER DATABASE … SET plan_cache_mode = force_generic_plan`, both servers "
        "restarted, so every prepared statement of both sides (and pgbench's) used its generic plan.",
        "",
        "| query | plan | hub req/s by round | PostGraphile req/s by round | hub / PostGraphile by round | "
        "median hub | median PostGraphile | median ratio | plain SQL /s |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    order = []
    for r in runs:
        key = (r["query"], r["plan"])
        if key not in order:
            order.append(key)
    for key in order:
        rs = [r for r in runs if (r["query"], r["plan"]) == key]
        hub = [r["hub"]["rps"] for r in rs]
        peer = [r["peer"]["rps"] for r in rs if "peer" in r]
        ratios = [h / q for h, q in zip(hub, peer) if q]
        fmt = lambda xs: ", ".join(f"{x:,.0f}" if x >= 10 else f"{x:.1f}" for x in xs)  # noqa: E731
        desc = rs[0]["description"]
        floor_v = floors.get(key)
        bad = sum(r["hub"]["non_2xx"] + r.get("peer", {}).get("non_2xx", 0) for r in rs)
        lines.append(
            f"| {key[0]} {desc} | {key[1]} | {fmt(hub)} | {fmt(peer) if peer else '(no aggregates)'} | "
            f"{', '.join(ratio(x) for x in ratios) if ratios else '—'} | {statistics.median(hub):,.1f} | "
            f"{f'{statistics.median(peer):,.1f}' if peer else '—'} | "
            f"{ratio(statistics.median(ratios)) if ratios else '—'} | "
            f"{f'{floor_v:,.0f}' if floor_v else '—'} |"
            + (f" ({bad} non-2xx answers)" if bad else "")
        )
    lines += [
        "",
        f"Run it again with `bench/peer.sh {settings['scale']}`; it rewrites only this section.",
        end,
    ]
    section = "\n".join(lines)
    text = open(args.markdown).read() if os.path.exists(args.markdown) else "# Benchmarks\n"
    first_end = markers(1)[1]
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        after = rest.split(end, 1)[1]
        text = before + section + after
    elif first_end in text:
        # Another scale's section goes right after scale 1's.
        before, after = text.split(first_end, 1)
        text = before + first_end + "\n\n" + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(args.markdown, "w") as f:
        f.write(text)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["check", "run", "floor", "report"])
    parser.add_argument("--hub")
    parser.add_argument("--token")
    parser.add_argument("--peer")
    parser.add_argument("--db")
    parser.add_argument("--plan", default="custom")
    parser.add_argument("--queries", default="Q1,Q2,Q3a,Q3b,Q4")
    parser.add_argument("--parameters", default="{}")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out")
    parser.add_argument("--results")
    parser.add_argument("--markdown")
    parser.add_argument("--settings", default="{}")
    args = parser.parse_args()
    return {"check": check, "run": run, "floor": floor, "report": report}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
