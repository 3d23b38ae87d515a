#!/usr/bin/env python3
"""Benchmarks one running hub (started by bench/run.sh) and the equivalent plain SQL on the same
database, appending one JSON line per query to --out.

Each query is first checked once for a correct, error-free answer; then `oha` drives it for
--seconds at --concurrency, with the server's peak RSS (VmHWM, reset before each query through
/proc/PID/clear_refs) read afterwards. The SQL floor runs the equivalent statements directly:
pgbench with a custom script for PostgreSQL, a Python sqlite3 loop for SQLite.
"""

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

PURPOSE = "local benchmark runs"
STATES = ["MX-SON", "MX-CHH", "MX-JAL", "MX-BCN", "MX-TAM"]


def import_rows():
    rows = []
    for i in range(3):
        rows.append({
            "traceNumber": f"BENCH-DRY-{i}",
            "requestingAgency": "FGR",
            "recoveryDate": "2021-04-02",
            "recoveryState": "MX-CHH",
            "status": "COMPLETED",
            "sourceClass": "US_MANUFACTURED",
            "purchaseState": "TX",
            "purchaseDate": "2019-01-15",
            "firearm": {"manufacturer": "Glock", "type": "PISTOL", "caliber": "9mm",
                        "serialNumber": f"BENCHDRY{i:04d}", "countryOfManufacture": "US"},
        })
    return rows


def queries(trace_id):
    """(name, description, role, GraphQL body, check(data) -> bool, SQL for sqlite, SQL for postgres)."""
    states_sql = ", ".join(f"'{s}'" for s in STATES)
    page_where = f"t.recovery_state IN ({states_sql}) AND t.recovery_year BETWEEN 2015 AND 2020"
    insert = lambda i, now: (  # noqa: E731
        "INSERT INTO firearm (manufacturer, model, firearm_type, caliber, serial_number, serial_normalized, "
        "country_of_manufacture, importer, owner_agency, source_system, ingested_at, version) VALUES "
        f"('Glock', NULL, 'PISTOL', '9mm', 'BENCHDRY{i:04d}', 'BENCHDRY{i:04d}', 'US', NULL, 'ATF', 'bench', {now}, 1); "
        "INSERT INTO trace (trace_number, firearm_id, requesting_agency, recovery_date, recovery_year, recovery_state, "
        "recovery_municipality, status, source_class, purchase_state, purchase_date, time_to_crime_days, dealer_license, "
        "purchaser_name, owner_agency, source_system, ingested_at, version) VALUES "
        f"('BENCH-DRY-{i}', (SELECT MAX(id) FROM firearm), 'FGR', '2021-04-02', 2021, 'MX-CHH', NULL, 'COMPLETED', "
        f"'US_MANUFACTURED', 'TX', '2019-01-15', 808, NULL, NULL, 'ATF', 'bench', {now}, 1);"
    )
    dry_sqlite = "BEGIN; " + " ".join(insert(i, "CURRENT_TIMESTAMP") for i in range(3)) + " ROLLBACK;"
    dry_pg = "BEGIN;\n" + "\n".join(insert(i, "now()") for i in range(3)).replace("; ", ";\n") + "\nROLLBACK;"
    page_sql = (
        "SELECT t.trace_number, t.recovery_date, f.manufacturer, f.firearm_type, f.caliber, f.serial_number "
        f"FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE {page_where} "
        "ORDER BY t.recovery_date DESC, t.id DESC LIMIT 51; "
        f"SELECT COUNT(*) FROM trace t WHERE {page_where};"
    )
    return [
        ("trace by id", "`trace(id)` with its firearm", "ATF",
         {"query": f'{{ trace(id: "{trace_id}") {{ id traceNumber recoveryDate recoveryState status sourceClass '
                   'timeToCrimeDays firearm { manufacturer type caliber serialNumber } } }'},
         lambda d: d["trace"] is not None and d["trace"]["id"] == str(trace_id),
         f"SELECT t.*, f.* FROM trace t JOIN firearm f ON f.id = t.firearm_id WHERE t.id = {trace_id};",
         None),
        ("traces page", "50 traces filtered by 5 states and 6 years, newest first, with firearms and totalCount", "ATF",
         {"query": "{ traces(first: 50, filter: {recoveryState: " + json.dumps(STATES) + ", year: {min: 2015, max: 2020}}, "
                   "orderBy: [{field: RECOVERY_DATE, direction: DESC}]) { totalCount nodes { traceNumber recoveryDate "
                   "firearm { manufacturer type caliber serialNumber } } } }"},
         lambda d: len(d["traces"]["nodes"]) == 50 and d["traces"]["totalCount"] > 50,
         page_sql, None),
        ("traceStats YEAR×SOURCE_CLASS", "exact counts and median time-to-crime per group (ATF)", "ATF",
         {"query": "{ traceStats(groupBy: [YEAR, SOURCE_CLASS]) { total buckets { key { year sourceClass } count "
                   "medianTimeToCrimeDays } } }"},
         lambda d: d["traceStats"]["total"] > 0 and len(d["traceStats"]["buckets"]) > 4,
         "SELECT recovery_year, source_class, COUNT(*), AVG(time_to_crime_days) FROM trace GROUP BY 1, 2;", None),
        ("seizureStats FISCAL_YEAR×PORT_OF_ENTRY", "counts, firearms and rounds per group (CBP, exact)", "CBP",
         {"query": "{ seizureStats(groupBy: [FISCAL_YEAR, PORT_OF_ENTRY]) { total buckets { key { fiscalYear portOfEntry } "
                   "count firearms ammunitionRounds } } }"},
         lambda d: d["seizureStats"]["total"] > 0 and len(d["seizureStats"]["buckets"]) > 1,
         "SELECT fiscal_year, port_of_entry, COUNT(*), SUM(firearm_count), SUM(ammunition_rounds) FROM seizure GROUP BY 1, 2;",
         None),
        ("importTraces dry run (3 rows)", "validation, write of 3 traces and firearms, rollback", "ATF",
         {"query": "mutation($rows: [TraceInput!]!) { importTraces(rows: $rows, dryRun: true) { accepted rejected dryRun } }",
          "variables": {"rows": import_rows()}},
         lambda d: d["importTraces"] == {"accepted": 3, "rejected": 0, "dryRun": True},
         dry_sqlite, dry_pg),
    ]


def post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {token}", "X-Access-Purpose": PURPOSE})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def reset_peak_rss(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def run_oha(oha, url, token, body, seconds, concurrency):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(body, f)
        body_file = f.name
    try:
        out = subprocess.run(
            [oha, "-z", f"{seconds}s", "-c", str(concurrency), "--no-tui", "--output-format", "json",
             "-m", "POST", "-H", "Content-Type: application/json", "-H", f"Authorization: Bearer {token}",
             "-H", f"X-Access-Purpose: {PURPOSE}", "-D", body_file, url],
            check=True, capture_output=True, text=True, timeout=seconds + 120).stdout
    finally:
        os.unlink(body_file)
    result = json.loads(out)
    summary = result["summary"]
    pct = result.get("latencyPercentiles") or {}
    statuses = {str(k): v for k, v in (result.get("statusCodeDistribution") or {}).items()}
    return {
        "rps": summary["requestsPerSec"],
        "p50_ms": (pct.get("p50") or 0) * 1000,
        "p95_ms": (pct.get("p95") or 0) * 1000,
        "p99_ms": (pct.get("p99") or 0) * 1000,
        "statuses": statuses,
        # Requests still in flight at the deadline are cut by oha, not failed by the server.
        "errors": {k: v for k, v in (result.get("errorDistribution") or {}).items() if "deadline" not in k},
        "success_rate": summary.get("successRate"),
    }


def sqlite_floor(path, sql, seconds):
    """One connection, one thread: iterations per second and latency percentiles."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    statements = [s.strip() for s in sql.split(";") if s.strip()]
    lat = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for s in statements:
            con.execute(s).fetchall()
        lat.append(time.perf_counter() - t0)
    con.close()
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000  # noqa: E731
    return {"rps": len(lat) / seconds, "p50_ms": p(0.5), "p95_ms": p(0.95), "p99_ms": p(0.99),
            "how": "python sqlite3, 1 connection"}


def pg_floor(pgbench, url, sql, seconds, concurrency):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(sql + "\n")
        script = f.name
    try:
        out = subprocess.run(
            [pgbench, "-n", "-f", script, "-T", str(seconds), "-c", str(concurrency), "-j", "2", url],
            check=True, capture_output=True, text=True, timeout=seconds + 120).stdout
    finally:
        os.unlink(script)
    tps = float(re.search(r"tps = ([0-9.]+)", out).group(1))
    avg = float(re.search(r"latency average = ([0-9.]+) ms", out).group(1))
    return {"rps": tps, "avg_ms": avg, "how": f"pgbench -c {concurrency} -j 2"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--db", required=True, help="SQLite file path or PostgreSQL URL")
    p.add_argument("--oha", required=True)
    p.add_argument("--pgbench", default="pgbench")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        sys.exit("benchmarks only target a local hub")
    tokens = json.loads(args.tokens)

    status, body = post(args.url, tokens["ATF"], {"query": "{ traces(first: 1, orderBy: [{field: TRACE_NUMBER}]) { nodes { id } } }"})
    trace_id = body["data"]["traces"]["nodes"][0]["id"]

    failed = False
    for name, description, role, gql, check, sql_sqlite, sql_pg in queries(trace_id):
        status, answer = post(args.url, tokens[role], gql)
        ok = status == 200 and not answer.get("errors") and answer.get("data") is not None and check(answer["data"])
        if not ok:
            print(f"[{args.backend}] {name}: wrong answer: {status} {json.dumps(answer)[:400]}", file=sys.stderr)
            failed = True
            continue
        reset = reset_peak_rss(args.pid)
        hub = run_oha(args.oha, args.url, tokens[role], gql, args.seconds, args.concurrency)
        rss = peak_rss_kb(args.pid)
        non_200 = {k: v for k, v in hub["statuses"].items() if k != "200"}
        if non_200 or hub["errors"]:
            print(f"[{args.backend}] {name}: non-200 answers under load: {non_200} {hub['errors']}", file=sys.stderr)
            failed = True
        if args.backend == "sqlite":
            floor = sqlite_floor(args.db, sql_sqlite, args.seconds)
        else:
            floor = pg_floor(args.pgbench, args.db, sql_pg or sql_sqlite, args.seconds, args.concurrency)
        record = {"backend": args.backend, "query": name, "description": description, "role": role,
                  "hub": hub, "peak_rss_kb": rss, "rss_reset": reset, "sql": floor}
        print(f"[{args.backend}] {name}: hub {hub['rps']:.0f}/s p50 {hub['p50_ms']:.1f} ms p99 {hub['p99_ms']:.1f} ms, "
              f"rss {rss} kB; SQL {floor['rps']:.0f}/s", file=sys.stderr)
        with open(args.out, "a") as f:
            f.write(json.dumps(record) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
