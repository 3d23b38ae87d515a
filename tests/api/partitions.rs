//! Traces partitioned by recovery year on PostgreSQL (migration 000019): a query with a year
//! filter reads only that year's partition, the natural key stays unique across partitions, a
//! trace whose year changes moves with its key, rows of a year without a partition wait in the
//! default partition until it is created, and the migration keeps every row both ways. SQLite
//! keeps one table.

use entity::Role;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, error_codes, spawn_app, spawn_app_recording_statements};

const CREATE_TRACE: &str =
    "mutation($input: TraceInput!) { createTrace(input: $input) { id version } }";

fn on_postgres(app: &TestApp) -> bool {
    if app.db.backend() != DbBackend::Postgres {
        eprintln!(
            "skipped: traces are partitioned on PostgreSQL only (set HUB_TEST_DATABASE_URL); \
             this run is on SQLite, which keeps one table"
        );
        return false;
    }
    true
}

/// The partition holding the trace of `number`.
async fn partition_of(app: &TestApp, number: &str) -> String {
    let row = app
        .db
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT tableoid::regclass::text AS p FROM trace WHERE trace_number = '{number}'"
            ),
        ))
        .await
        .expect("query")
        .unwrap_or_else(|| panic!("no trace {number}"));
    row.try_get("", "p").expect("a partition name")
}

/// The tables a plan reads (its nodes' relation names).
fn relations(plan: &Value, out: &mut Vec<String>) {
    if let Some(name) = plan["Relation Name"].as_str() {
        out.push(name.to_owned());
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        relations(child, out);
    }
}

async fn explained_relations(app: &TestApp, sql: &str) -> Vec<String> {
    let row = app
        .db
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("EXPLAIN (FORMAT JSON) {sql}"),
        ))
        .await
        .unwrap_or_else(|e| panic!("EXPLAIN {sql}: {e}"))
        .expect("a plan");
    let plan: Value = row
        .try_get_by_index::<Value>(0)
        .or_else(|_| {
            row.try_get_by_index::<String>(0)
                .map(|s| serde_json::from_str(&s).expect("JSON plan"))
        })
        .expect("EXPLAIN (FORMAT JSON) answers JSON");
    let mut found = Vec::new();
    relations(&plan[0]["Plan"], &mut found);
    found.sort();
    found.dedup();
    found
}

#[tokio::test]
async fn a_year_filter_reads_only_that_years_partition() {
    let (app, recorded) = spawn_app_recording_statements().await;
    if !on_postgres(&app) {
        return;
    }
    fixtures::load(&app.db.db).await;
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM pg_class WHERE relname = 'trace' AND relkind = 'p'")
            .await,
        1,
        "trace is a partitioned table"
    );
    for year in [2014, 2019, 2024] {
        assert_eq!(
            app.db
                .scalar(&format!(
                    "SELECT COUNT(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                     WHERE i.inhparent = 'trace'::regclass AND c.relname = 'trace_y{year}'"
                ))
                .await,
            1,
            "a partition for {year}"
        );
    }
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid \
                 WHERE c.relname = 'trace_default'"
            )
            .await,
        1,
        "a default partition"
    );
    // The statement the hub sends for a page of one year's traces.
    recorded.lock().expect("statement log").clear();
    let page = app
        .as_role(Role::Atf)
        .query_ok(
            "{ traces(first: 10, filter: { year: { min: 2019, max: 2019 } }) { totalCount nodes { traceNumber } } }",
        )
        .await;
    assert!(page["data"]["traces"]["totalCount"].is_number(), "{page}");
    let statements: Vec<String> = recorded
        .lock()
        .expect("statement log")
        .iter()
        .filter(|s| {
            let sql = s.sql.to_ascii_lowercase();
            sql.trim_start().starts_with("select") && sql.contains("from \"trace\"")
        })
        .map(|s| s.to_string())
        .collect();
    assert!(!statements.is_empty(), "the page read traces");
    for sql in &statements {
        let read = explained_relations(&app, sql).await;
        let traces: Vec<&String> = read.iter().filter(|r| r.starts_with("trace")).collect();
        assert_eq!(traces, ["trace_y2019"], "{sql} reads {read:?}");
    }
    // And a year range reads its years only.
    let read = explained_relations(
        &app,
        "SELECT COUNT(*) FROM trace WHERE recovery_year BETWEEN 2020 AND 2021",
    )
    .await;
    assert_eq!(read, ["trace_y2020", "trace_y2021"]);
}

#[tokio::test]
async fn the_trace_number_stays_unique_across_partitions_and_moves_with_its_trace() {
    let app = spawn_app().await;
    if !on_postgres(&app) {
        return;
    }
    fixtures::load(&app.db.db).await;
    let atf = app.as_role(Role::Atf);
    let created = atf
        .query(
            CREATE_TRACE,
            json!({ "input": fixtures::trace_input("T-PART", "PART-0001") }),
        )
        .await;
    let id = created["data"]["createTrace"]["id"].clone();
    assert!(id.is_string(), "{created}");
    assert_eq!(partition_of(&app, "T-PART").await, "trace_y2021");
    // The same number in another year is the same natural key: refused.
    let mut other_year = fixtures::trace_input("T-PART", "PART-0002");
    other_year["recoveryDate"] = json!("2023-06-01");
    let again = atf
        .query(CREATE_TRACE, json!({ "input": other_year }))
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    // A new recovery date in another year moves the trace to that year's partition.
    let moved = atf
        .query(
            "mutation($id: ID!) { updateTrace(id: $id, input: { recoveryDate: \"2022-03-04\", timeToCrimeDays: 1144 }, expectedVersion: 1) { recoveryDate version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        moved["data"]["updateTrace"],
        json!({ "recoveryDate": "2022-03-04", "version": 2 }),
        "{moved}"
    );
    assert_eq!(partition_of(&app, "T-PART").await, "trace_y2022");
    let read = atf
        .query(
            "query($id: ID!) { trace(id: $id) { traceNumber recoveryDate } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["data"]["trace"]["recoveryDate"], "2022-03-04");
    let again = atf
        .query(
            CREATE_TRACE,
            json!({ "input": fixtures::trace_input("T-PART", "PART-0003") }),
        )
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "still taken: {again}");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace_number_key WHERE trace_number = 'T-PART'")
            .await,
        1
    );
    // Deleted, the number is free again.
    let deleted = atf
        .query(
            "mutation($id: ID!) { deleteTrace(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    let reused = atf
        .query(
            CREATE_TRACE,
            json!({ "input": fixtures::trace_input("T-PART", "PART-0004") }),
        )
        .await;
    assert!(reused["errors"].is_null(), "{reused}");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace_number_key WHERE trace_number = 'T-PART'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_year_without_a_partition_waits_in_the_default_one_until_its_partition_is_created() {
    let app = spawn_app().await;
    if !on_postgres(&app) {
        return;
    }
    fixtures::load(&app.db.db).await;
    app.db
        .db
        .execute_unprepared("DROP TABLE trace_y2015")
        .await
        .expect("the empty 2015 partition dropped");
    let atf = app.as_role(Role::Atf);
    let mut input = fixtures::trace_input("T-2015", "Y2015-0001");
    input["recoveryDate"] = json!("2015-08-01");
    input["purchaseDate"] = json!("2014-01-15");
    let created = atf.query(CREATE_TRACE, json!({ "input": input })).await;
    assert!(created["errors"].is_null(), "{created}");
    assert_eq!(partition_of(&app, "T-2015").await, "trace_default");
    let created_now = firearms_hub::store::partitions::ensure_year(&app.db.db, 2015)
        .await
        .expect("the partition is created");
    assert!(created_now);
    assert_eq!(partition_of(&app, "T-2015").await, "trace_y2015");
    assert!(
        !firearms_hub::store::partitions::ensure_year(&app.db.db, 2015)
            .await
            .expect("asked again"),
        "created once"
    );
    // The moved row kept its key: its number is still taken, and it reads as before.
    let again = atf
        .query(
            CREATE_TRACE,
            json!({ "input": fixtures::trace_input("T-2015", "Y2015-0002") }),
        )
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    let id = created["data"]["createTrace"]["id"].clone();
    let read = atf
        .query(
            "query($id: ID!) { trace(id: $id) { traceNumber } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read["data"]["trace"]["traceNumber"], "T-2015", "{read}");
    // The hub's own start makes sure this year's and next year's partitions exist.
    let created = firearms_hub::store::partitions::ensure_coming_years(&app.db.db)
        .await
        .expect("ensured");
    assert!(
        created.is_empty(),
        "the migration created them: {created:?}"
    );
}

#[tokio::test]
async fn the_partitioning_migration_keeps_every_trace_both_ways() {
    let app = spawn_app().await;
    if !on_postgres(&app) {
        return;
    }
    let db = &app.db.db;
    fixtures::load(db).await;
    let snapshot =
        "SELECT COALESCE(SUM(id * 7 + recovery_year + record_key % 1000), 0)::bigint FROM trace";
    let before = (
        app.db.scalar("SELECT COUNT(*) FROM trace").await,
        app.db.scalar(snapshot).await,
    );
    assert!(before.0 > 0);
    // Back to before the partitioning: it and the migrations after it.
    let migrations = Migrator::migrations();
    let partitioning = migrations
        .iter()
        .position(|m| m.name().ends_with("_000019_partition_traces"))
        .expect("the partitioning migration is known");
    let steps = u32::try_from(migrations.len() - partitioning).expect("a few steps");
    Migrator::down(db, Some(steps)).await.expect("rolls back");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM pg_class WHERE relname = 'trace' AND relkind = 'r'")
            .await,
        1,
        "one table again"
    );
    assert_eq!(
        (
            app.db.scalar("SELECT COUNT(*) FROM trace").await,
            app.db.scalar(snapshot).await
        ),
        before
    );
    Migrator::up(db, None).await.expect("migrates again");
    assert_eq!(
        (
            app.db.scalar("SELECT COUNT(*) FROM trace").await,
            app.db.scalar(snapshot).await
        ),
        before
    );
    // Ids continue after the ones moved.
    let max = app.db.scalar("SELECT MAX(id) FROM trace").await;
    let created = app
        .as_role(Role::Atf)
        .query(
            CREATE_TRACE,
            json!({ "input": fixtures::trace_input("T-AFTER", "AFTER-0001") }),
        )
        .await;
    let id: i64 = created["data"]["createTrace"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{created}"));
    assert!(id > max, "{id} after {max}");
}
