#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the JSON lines bench/bench.py appended."""

import json
import re
import platform
import subprocess
import sys
from datetime import datetime, timezone


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return cpu, nproc, mem_kb / 1024 / 1024


def main():
    results_path, out_path, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    rows = [json.loads(line) for line in open(results_path) if line.strip()]
    cpu, nproc, mem_gib = machine()
    lines = [
        "# Benchmarks",
        "",
        "Measured by `bench/run.sh` (" + datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") + f", commit `{settings['commit']}`).",
        "",
        "**Read these numbers as ratios within one run.** They come from a shared 2-core development machine on",
        "which other engineers were compiling at the same time; absolute throughput varies from run to run.",
        "",
        "## Machine and settings",
        "",
        f"- CPU: {cpu}; {nproc} cores; {mem_gib:.1f} GiB memory; {platform.system()} {platform.release()}",
        f"- Demo data at scale {settings['scale']} (seed {settings['seed']}): {settings['sizes']}",
    ]
    lines += (
        []
        + ([f"- Binary: {settings['binary_note']}"] if settings.get("binary_note") else [])
        + [
        f"- Hub: release build, `server.workers` = {settings['workers']}, rate limiting off, log level warn, "
        "served on 127.0.0.1 in development mode",
        f"- Load: `oha` {settings['oha_version']}, {settings['concurrency']} concurrent connections for "
        f"{settings['seconds']} s per query, every answer checked for HTTP 200 (a correct answer was checked once before)",
        "- Peak RSS: the server's `VmHWM` from `/proc/PID/status` after each query's run, reset before it "
        "through `/proc/PID/clear_refs`",
        f"- SQL floor: the equivalent statements run directly against the same database for {settings['seconds']} s — "
        "PostgreSQL: `pgbench` with a custom script at the same concurrency; SQLite: a Python `sqlite3` loop on one "
        "connection (SQLite serves one process's reads well from one connection; the hub gets "
        f"{settings['concurrency']} clients). The floor does no JSON, HTTP, authorization or policy work; "
        "`hub/SQL` is the hub's throughput as a share of the floor's.",
        f"- PostgreSQL {settings['pg_version']} on 127.0.0.1, default configuration",
        "",
        ]
    )
    for backend in ("sqlite", "postgres"):
        subset = [r for r in rows if r["backend"] == backend]
        if not subset:
            lines += [f"## {backend}", "", "not measured: " + settings.get(f"{backend}_skipped", "skipped"), ""]
            continue
        title = "SQLite (file, WAL)" if backend == "sqlite" else "PostgreSQL"
        lines += [
            f"## {title}",
            "",
            "| query | hub req/s | p50 ms | p95 ms | p99 ms | peak RSS MiB | SQL floor req/s | SQL latency ms | hub/SQL |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in subset:
            hub, sql = r["hub"], r["sql"]
            sql_latency = f"p50 {sql['p50_ms']:.2f}" if "p50_ms" in sql else f"avg {sql['avg_ms']:.2f}"
            ratio = hub["rps"] / sql["rps"] if sql["rps"] else 0
            ratio_text = f"{ratio:.2f}" if ratio >= 0.01 else f"{ratio:.4f}"
            rss = f"{r['peak_rss_kb'] / 1024:.0f}" if r.get("peak_rss_kb") else "?"
            lines.append(
                f"| {r['query']} | {hub['rps']:.0f} | {hub['p50_ms']:.1f} | {hub['p95_ms']:.1f} | {hub['p99_ms']:.1f} "
                f"| {rss} | {sql['rps']:.0f} | {sql_latency} | {ratio_text} |"
            )
        lines.append("")
    lines += [
        "## The queries",
        "",
        "| query | what | as | SQL floor |",
        "|---|---|---|---|",
        "| trace by id | `trace(id)` with its firearm | ATF | one join by primary key |",
        "| traces page | first 50 of the traces recovered in 5 states in 2015–2020, newest first, with firearms and `totalCount` | ATF | the join with `ORDER BY … LIMIT 51` plus `COUNT(*)` |",
        "| traceStats YEAR×SOURCE_CLASS | exact counts and the median time-to-crime per group | ATF | `GROUP BY` with `COUNT` and `AVG` (a mean, cheaper than the hub's median) |",
        "| seizureStats FISCAL_YEAR×PORT_OF_ENTRY | counts, firearms and rounds per group | CBP | `GROUP BY` with `COUNT` and `SUM` |",
        "| importTraces dry run | 3 rows: the full validation and write path of an import, rolled back (oha cannot vary bodies, so a real write would conflict after the first request) | ATF | `BEGIN`, 3 × insert firearm and trace, `ROLLBACK` |",
        "",
        "Run it again with `bench/run.sh [SCALE]` (default 1); it rewrites this file except the sections other "
        "scripts own (between `<!-- NAME:begin` and `<!-- NAME:end -->`, e.g. the peer section of `bench/peer.sh`), "
        "which it keeps.",
        "",
    ]
    lines += kept_sections(out_path)
    with open(out_path, "w") as f:
        f.write("\n".join(lines))


def kept_sections(path):
    """The marked sections of the file as it is (written by other scripts), to keep."""
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    kept = []
    for match in re.finditer(r"<!-- ([a-z-]+):begin.*?<!-- \1:end -->", text, re.S):
        kept += [match.group(0), ""]
    return kept


if __name__ == "__main__":
    main()
