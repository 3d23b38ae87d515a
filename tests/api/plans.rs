//! The documented portal queries keep good plans on PostgreSQL whatever plan the database picks:
//! the statements the hub actually sends for each README example and for the benchmark's Q1–Q4
//! are explained with their parameters, as a custom plan and as the generic plan a prepared
//! statement falls into (`plan_cache_mode = force_generic_plan`). The test tables are tiny, so the
//! planner would rightly prefer sequential scans; with `enable_seqscan = off` an index path must
//! exist for every access to a large table instead: no sequential scan of one, and no plan costed
//! at PostgreSQL's disable cost. The portals' page of traces of one state and year, newest first,
//! must read its rows through the state index in date order.
//!
//! A stats root without a filter aggregates every row the caller reads: it scans its table by
//! design (and is answered from the cached canonical tables where those apply), so only its
//! filtered forms are held to an index path. The cross-agency analyses read whole stats tables
//! whatever their filters (the trace volumes every outcome's window sums), so their grouped reads
//! of the stats tables are not held to one either, nor are those of the performance measures, whose
//! actuals are cells of whole stats tables too. Every other statement they send is held to it
//! like any other, the statements reading awards included: `fundingOutcomes` per award reads the
//! awards the caller reads and their trainings (filtered reads, not whole stats tables). Those read
//! `funding_award` and `training_event`, which are not among the large tables, so today the check
//! explains none of them; it holds them as soon as they reach a large table.
//!
//! SQLite has no generic plans of this kind and its planner is checked elsewhere
//! (`cancel.rs`); there the test says it was skipped.

use entity::Role;
use firearms_hub::demo::{self, DemoOptions};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::Value;

use crate::helpers::{Recorded, TestApp, spawn_app_recording_statements};

/// Tables that grow with the data: an access to one must have an index path.
const LARGE_TABLES: [&str; 5] = [
    "trace",
    "firearm",
    "seizure",
    "seizure_firearm",
    "firearm_link",
];

/// The cross-agency analyses: each reads the cells of a whole `…Stats` table (its filters select
/// cells of that table), so, like an unfiltered stats root, its grouped reads of the stats tables
/// scan by design. Their other statements (those reading awards among them) are checked like any
/// other.
const ANALYSES: [&str; 3] = ["traceCorridors", "trainingOutcomes", "fundingOutcomes"];

/// The performance measures: each actual is cells of a `…Stats` table, built whole as a cached
/// canonical table (the fiscal year and the metric's parameters select its cells), so their grouped
/// reads scan by design too.
const MEASURES: &str = "performanceMeasure";

/// PostgreSQL's cost of a disabled plan node (`disable_cost`).
const DISABLE_COST: f64 = 1.0e10;

/// The index the page of traces of one state, newest first, reads.
const PAGE_INDEX: &str = "idx_trace_state_date";

/// A documented query: where it is documented, who sends it, and its body.
struct Documented {
    at: String,
    role: Role,
    headers: Vec<(String, String)>,
    body: String,
}

fn benchmark_queries(trace_id: i64) -> Vec<Documented> {
    let q = |at: &str, query: String| Documented {
        at: at.to_owned(),
        role: Role::Atf,
        headers: vec![("X-Access-Purpose".into(), "plan check".into())],
        body: serde_json::json!({ "query": query }).to_string(),
    };
    vec![
        q(
            "Q1 one trace by id with its firearm",
            format!(
                "{{ trace(id: \"{trace_id}\") {{ id traceNumber recoveryDate recoveryState status \
                 sourceClass timeToCrimeDays firearm {{ id manufacturer type caliber serialNumber }} }} }}"
            ),
        ),
        q(
            "Q2 traces of one state and year, newest first",
            "{ traces(first: 50, filter: {recoveryState: [\"MX-CHH\"], year: {min: 2019, max: 2019}}, \
             orderBy: [{field: RECOVERY_DATE, direction: DESC}]) { totalCount nodes { id traceNumber \
             recoveryDate firearm { id manufacturer type caliber serialNumber } } } }"
                .to_owned(),
        ),
        q(
            "Q3a firearms, their traces and seizures, and those seizures' firearms",
            "{ firearms(first: 20) { nodes { id manufacturer traces { nodes { id traceNumber } } \
             seizures { nodes { id seizedOn firearms { id manufacturer } } } } } }"
                .to_owned(),
        ),
        q(
            "Q3b newest seizures, their firearms and those firearms' traces",
            "{ seizures(first: 20, orderBy: [{field: SEIZED_ON, direction: DESC}]) { nodes { id \
             seizedOn firearms { id manufacturer traces { nodes { id traceNumber } } } } } }"
                .to_owned(),
        ),
        q(
            "Q4 traceStats by year and source class",
            "{ traceStats(groupBy: [YEAR, SOURCE_CLASS]) { total buckets { key { year sourceClass } \
             count medianTimeToCrimeDays } } }"
                .to_owned(),
        ),
    ]
}

fn readme_queries() -> Vec<Documented> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    crate::readme::examples(&readme)
        .into_iter()
        .map(|e| Documented {
            at: e.at,
            role: e.role,
            headers: e.headers,
            body: e.body,
        })
        .collect()
}

/// Sends a documented query; returns the statements it made the hub run.
async fn statements_of(app: &TestApp, recorded: &Recorded, query: &Documented) -> Vec<Statement> {
    let token = app.as_role(query.role).token().to_owned();
    recorded.lock().expect("statement log").clear();
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .body(query.body.clone());
    let mut has_token = false;
    let mut has_type = false;
    for (name, value) in &query.headers {
        has_token |= name.eq_ignore_ascii_case("Authorization");
        has_type |= name.eq_ignore_ascii_case("Content-Type");
        request = request.header(name, value.replace("$TOKEN", &token));
    }
    if !has_token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if !has_type {
        request = request.header("Content-Type", "application/json");
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let json: Value = response.json().await.expect("JSON answer");
    assert_eq!(status, 200, "{}: {json}", query.at);
    assert!(
        json["errors"].is_null(),
        "{} answers errors: {json}",
        query.at
    );
    recorded.lock().expect("statement log").clone()
}

/// Whether a statement reads a large table.
fn reads_large_table(sql: &str) -> bool {
    let lower = sql.trim_start().to_ascii_lowercase();
    (lower.starts_with("select") || lower.starts_with("with"))
        && LARGE_TABLES
            .iter()
            .any(|t| lower.contains(&format!("\"{t}\"")))
}

/// One plan's nodes, flattened.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    if let Some(children) = plan["Plans"].as_array() {
        for child in children {
            nodes(child, out);
        }
    }
}

/// What is wrong with a plan (explained with `enable_seqscan = off`), if anything.
fn problems(plan: &Value) -> Vec<String> {
    let mut all = Vec::new();
    nodes(plan, &mut all);
    let mut found = Vec::new();
    let cost = plan["Total Cost"].as_f64().unwrap_or(f64::MAX);
    if cost >= DISABLE_COST {
        found.push(format!("costs {cost:e}, PostgreSQL's disable cost or more"));
    }
    for node in &all {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        let relation = node["Relation Name"].as_str().unwrap_or_default();
        if kind.contains("Seq Scan") && LARGE_TABLES.contains(&table_of(relation)) {
            found.push(format!("scans all of {relation} (no index path)"));
        }
    }
    found
}

/// The table a relation of a plan belongs to: `trace` for its partitions (`trace_y2019`,
/// `trace_default`; PostgreSQL partitions traces by recovery year), else the relation itself.
fn table_of(relation: &str) -> &str {
    let partition = relation
        .strip_prefix("trace_y")
        .is_some_and(|year| !year.is_empty() && year.bytes().all(|b| b.is_ascii_digit()));
    if partition || relation == "trace_default" {
        "trace"
    } else {
        relation
    }
}

/// Whether a plan reads `trace` through [`PAGE_INDEX`] (or, on a partition, the index PostgreSQL
/// made of it there: one of `partition_indexes`) with an index condition.
fn reads_page_index(plan: &Value, partition_indexes: &[String]) -> bool {
    let mut all = Vec::new();
    nodes(plan, &mut all);
    all.iter().any(|n| {
        n["Index Cond"].as_str().is_some()
            && n["Index Name"].as_str().is_some_and(|name| {
                name == PAGE_INDEX || partition_indexes.iter().any(|p| p == name)
            })
    })
}

/// The indexes PostgreSQL made of [`PAGE_INDEX`] on the partitions of `trace`.
async fn partition_indexes(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    db.query_all_raw(Statement::from_string(
        DbBackend::Postgres,
        format!(
            "SELECT c.relname::text AS name FROM pg_inherits i \
             JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent \
             WHERE p.relname = '{PAGE_INDEX}'"
        ),
    ))
    .await
    .expect("the partitions' indexes")
    .iter()
    .map(|row| row.try_get::<String>("", "name").expect("an index name"))
    .collect()
}

/// Explains a statement as PostgreSQL plans it with its values, then as the generic plan of the
/// prepared statement, with sequential scans disabled. Returns both plans (JSON).
async fn explain(db: &sea_orm::DatabaseConnection, statement: &Statement) -> [Value; 2] {
    let txn = db.begin().await.expect("transaction");
    txn.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .expect("seqscan off");
    let plan_of = |rows: Vec<sea_orm::QueryResult>| -> Value {
        let row = rows.first().expect("a plan");
        let text: Value = row
            .try_get_by_index::<Value>(0)
            .or_else(|_| {
                row.try_get_by_index::<String>(0)
                    .map(|s| serde_json::from_str(&s).expect("JSON plan"))
            })
            .expect("EXPLAIN (FORMAT JSON) answers JSON");
        text[0]["Plan"].clone()
    };
    let inlined = statement.to_string();
    let custom = plan_of(
        txn.query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN (FORMAT JSON) {inlined}"),
        ))
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {inlined}: {e}")),
    );
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .expect("generic plans");
    txn.execute_unprepared(&format!("PREPARE hub_plan_check AS {}", statement.sql))
        .await
        .unwrap_or_else(|e| panic!("PREPARE {}: {e}", statement.sql));
    let count = statement.values.as_ref().map_or(0, |v| v.0.len());
    let placeholders: Vec<String> = (1..=count).map(|i| format!("${i}")).collect();
    let execute = Statement {
        sql: format!(
            "EXPLAIN (FORMAT JSON) EXECUTE hub_plan_check({})",
            placeholders.join(", ")
        ),
        values: statement.values.clone(),
        db_backend: DbBackend::Postgres,
    }
    .to_string();
    let execute = if count == 0 {
        "EXPLAIN (FORMAT JSON) EXECUTE hub_plan_check".to_owned()
    } else {
        execute
    };
    let generic = plan_of(
        txn.query_all_raw(Statement::from_string(DbBackend::Postgres, execute.clone()))
            .await
            .unwrap_or_else(|e| panic!("{execute}: {e}")),
    );
    txn.execute_unprepared("DEALLOCATE hub_plan_check")
        .await
        .expect("deallocate");
    txn.rollback().await.expect("rollback");
    [custom, generic]
}

#[tokio::test]
async fn every_documented_portal_query_has_an_index_path_under_custom_and_generic_plans() {
    let (app, recorded) = spawn_app_recording_statements().await;
    if app.db.backend() != DbBackend::Postgres {
        eprintln!(
            "skipped: the plans are checked on PostgreSQL (set HUB_TEST_DATABASE_URL); \
             this run is on SQLite"
        );
        return;
    }
    let options = DemoOptions {
        seed: demo::DEFAULT_SEED,
        scale: 0.01,
        progress: false,
    };
    demo::generate(&app.db.db, &options)
        .await
        .expect("demo data");
    let trace_id = app.db.scalar("SELECT MIN(id) FROM trace").await;

    let page_indexes = partition_indexes(&app.db.db).await;
    let mut queries = benchmark_queries(trace_id);
    queries.extend(readme_queries());
    let mut failures = Vec::new();
    for query in &queries {
        let statements = statements_of(&app, &recorded, query).await;
        let whole_stats = query.body.contains("Stats(") && !query.body.contains("filter");
        let analysis =
            ANALYSES.iter().any(|root| query.body.contains(root)) || query.body.contains(MEASURES);
        let mut page_read = false;
        let mut explained = 0;
        for statement in statements.iter().filter(|s| reads_large_table(&s.sql)) {
            let plans = explain(&app.db.db, statement).await;
            explained += 1;
            let lower = statement.sql.to_ascii_lowercase();
            let whole_table = whole_stats
                || (analysis && lower.contains("group by") && !lower.contains("\"funding_award\""));
            for (mode, plan) in ["custom", "generic"].iter().zip(&plans) {
                for problem in problems(plan) {
                    if whole_table
                        && (problem.contains("all of") || problem.contains("disable cost"))
                    {
                        continue;
                    }
                    failures.push(format!(
                        "{}: {mode} plan {problem}\n  {}\n  {plan}",
                        query.at, statement.sql
                    ));
                }
            }
            if lower.contains("order by") && lower.contains("\"recovery_state\"") {
                page_read = true;
                if query.at.starts_with("Q2") {
                    for (mode, plan) in ["custom", "generic"].iter().zip(&plans) {
                        if !reads_page_index(plan, &page_indexes) {
                            failures.push(format!(
                                "{}: the {mode} plan of the page does not read {PAGE_INDEX}\n  {}\n  {plan}",
                                query.at, statement.sql
                            ));
                        }
                    }
                }
            }
        }
        if query.at.starts_with('Q') {
            assert!(explained > 0, "{}: no statement was recorded", query.at);
        }
        if query.at.starts_with("Q2") {
            assert!(page_read, "{}: no page statement was recorded", query.at);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Whether the planner has statistics of `trace`: rows in `sqlite_stat1` (SQLite) or `pg_stats`
/// (PostgreSQL), which only `ANALYZE` writes.
async fn trace_has_statistics(t: &crate::helpers::TestDb) -> bool {
    let sql = match t.backend() {
        DbBackend::Postgres => "SELECT COUNT(*) FROM pg_stats WHERE tablename = 'trace'",
        _ => {
            if t.scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
                .await
                == 0
            {
                return false;
            }
            "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'trace'"
        }
    };
    t.scalar(sql).await > 0
}

/// Runs the binary over `t`'s database with `args`; returns its exit status and standard error
/// (a pipe, not a terminal).
fn hub(t: &crate::helpers::TestDb, args: &[&str]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = dir.path().join("hub.toml");
    std::fs::write(&config, b"").expect("settings file");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_firearms-hub"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HUB_") {
            command.env_remove(key);
        }
    }
    let output = command
        .arg("--config")
        .arg(&config)
        .args(["--database-url", &t.url])
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("the binary runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The one line a load prints when standard error is not a terminal: no progress, a summary
/// ending in the time it took.
fn one_summary_line<'a>(stderr: &'a str, starts: &str) -> &'a str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one summary line, not:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with(starts), "{line}");
    let seconds = line
        .trim_end_matches(')')
        .strip_suffix(" s")
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.trim_start_matches('('))
        .and_then(|n| n.parse::<f64>().ok());
    assert!(
        seconds.is_some_and(|s| s >= 0.0),
        "the line ends with the time taken: {line}"
    );
    line
}

#[tokio::test]
async fn demo_data_and_imports_refresh_the_planner_statistics_and_print_one_summary_line() {
    let t = crate::helpers::TestDb::new().await;
    assert!(
        !trace_has_statistics(&t).await,
        "no statistics before a load"
    );
    let (status, stderr) = hub(&t, &["demo-data", "--scale", "0.01", "--seed", "7"]);
    assert!(status.success(), "{stderr}");
    let line = one_summary_line(&stderr, "demo data (seed 7, scale 0.01): ");
    let traces = t.scalar("SELECT COUNT(*) FROM trace").await;
    assert!(line.contains(&format!(": {traces} traces, ")), "{line}");
    assert!(
        trace_has_statistics(&t).await,
        "demo data leaves statistics"
    );

    let t = crate::helpers::TestDb::new().await;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/traces.csv");
    let file = file.to_str().expect("a UTF-8 path");
    let (status, stderr) = hub(&t, &["import", "traces", file, "--dry-run"]);
    assert!(status.success(), "{stderr}");
    one_summary_line(
        &stderr,
        &format!("dry run: traces from {file} would be 5 inserted"),
    );
    assert!(
        !trace_has_statistics(&t).await,
        "a dry run writes nothing, statistics neither"
    );
    let (status, stderr) = hub(&t, &["import", "traces", file]);
    assert!(status.success(), "{stderr}");
    one_summary_line(
        &stderr,
        &format!("imported traces from {file}: 5 inserted, 0 updated, 0 unchanged in "),
    );
    assert!(
        trace_has_statistics(&t).await,
        "an import leaves statistics"
    );
}
