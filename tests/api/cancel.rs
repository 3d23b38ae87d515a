//! Work stops when the request stops, and reads through grants stay bounded by the page: the plans
//! of the statements the store issues for a granted read (F4), stats roots refused up front by their
//! weight (F5), and statements cancelled on timeout or when the request is dropped, with the pool
//! idle again within a second of each refusal, on SQLite and PostgreSQL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::{FirearmType, Role, SourceClass};
use firearms_hub::store::budget::{self, Budget};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use crate::fixtures;
use crate::helpers::{TestApp, TestDb, error_codes, spawn_app_with};

const GRANT: &str = "mutation($input: GrantInput!) { grantAccess(input: $input) { id } }";
const FIRST_FIREARM: &str = "{ firearms(first: 1) { totalCount nodes { id } } }";

/// A server whose database connection records every statement it runs, with a short request
/// timeout.
async fn app_recording() -> (TestApp, Arc<Mutex<Vec<Statement>>>) {
    let app = spawn_app_with(|s| s.limits.request_timeout_secs = 2).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut recorded = app.db.db.clone();
    let sink = seen.clone();
    recorded.set_metric_callback(move |info| {
        sink.lock().unwrap().push(info.statement.clone());
    });
    let server = firearms_hub::server::Application::build_with(
        app.settings.clone(),
        recorded,
        Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    (TestApp { address, ..app }, seen)
}

/// Oversight grants STATE the traces recovered in Sonora, the README's own example.
async fn grant_sonora_to_state(app: &TestApp) {
    let now = Utc::now();
    let made = app
        .as_role(Role::Oversight)
        .query(
            GRANT,
            json!({ "input": { "role": "STATE", "entity": "trace",
                "rowFilter": r#"{"recoveryState": ["MX-SON"]}"#,
                "reason": "MOU 2026-3 Sonora corridor",
                "startsAt": (now - chrono::Duration::hours(1)).to_rfc3339(),
                "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339() } }),
        )
        .await;
    assert!(made["errors"].is_null(), "{made}");
}

/// Traced firearms in several states, most of them outside Sonora.
async fn traced_firearms(db: &sea_orm::DatabaseConnection, n: usize) {
    for i in 0..n {
        let serial = format!("CNL-{i:06}");
        let firearm = fixtures::firearm(
            db,
            "Glock",
            FirearmType::Pistol,
            &serial,
            entity::Agency::Atf,
        )
        .await;
        let state = if i % 10 == 0 { "MX-SON" } else { "MX-JAL" };
        fixtures::trace(
            db,
            &format!("T-CNL-{i:06}"),
            firearm,
            state,
            fixtures::date(2020, 1, 1 + (i % 28) as u32),
            SourceClass::UsManufactured,
            None,
        )
        .await;
    }
}

/// The plan of a statement, one line per step.
async fn plan(db: &TestDb, statement: &Statement) -> Vec<String> {
    let (prefix, column) = match db.backend() {
        DbBackend::Postgres => ("EXPLAIN ", "QUERY PLAN"),
        _ => ("EXPLAIN QUERY PLAN ", "detail"),
    };
    let explain = Statement {
        sql: format!("{prefix}{}", statement.sql),
        values: statement.values.clone(),
        db_backend: statement.db_backend,
    };
    db.db
        .query_all_raw(explain)
        .await
        .unwrap_or_else(|e| panic!("cannot explain {}: {e}", statement.sql))
        .iter()
        .map(|row| row.try_get::<String>("", column).expect("plan text"))
        .collect()
}

/// Connections of the pool in use, as `GET /metrics` reports them.
async fn connections_in_use(app: &TestApp) -> i64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix("hub_db_connections{state=\"in_use\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no in-use gauge in {text}"))
}

/// Waits up to a second for every pooled connection to be idle; returns how long it took.
async fn pool_idle_within_a_second(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        let in_use = connections_in_use(app).await;
        if in_use == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{in_use} connections still in use a second after the refusal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_granted_firearm_page_reads_the_grants_rows_not_every_firearm_once_each() {
    let (app, seen) = app_recording().await;
    traced_firearms(&app.db.db, 60).await;
    grant_sonora_to_state(&app).await;
    seen.lock().unwrap().clear();

    let started = Instant::now();
    let answer = app.as_role(Role::State).query_ok(FIRST_FIREARM).await;
    assert!(started.elapsed() < Duration::from_secs(2), "{answer}");
    assert_eq!(answer["data"]["firearms"]["totalCount"], 6, "{answer}");
    assert_eq!(
        answer["data"]["firearms"]["nodes"].as_array().map(Vec::len),
        Some(1)
    );

    let statements: Vec<Statement> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|s| s.sql.contains("FROM \"firearm\""))
        .cloned()
        .collect();
    assert!(
        statements.len() >= 2,
        "the page and its count: {statements:?}"
    );
    for statement in &statements {
        let steps = plan(&app.db, statement).await;
        let text = steps.join("\n");
        match app.db.backend() {
            DbBackend::Postgres => {
                // The EXISTS is planned as a join of the grant's traces and firearm, not run once
                // per firearm.
                assert!(
                    text.contains("Join") || text.contains("Nested Loop"),
                    "{}\n{text}",
                    statement.sql
                );
                assert!(
                    !steps
                        .iter()
                        .any(|s| s.contains("SubPlan") && !s.contains("hashed")),
                    "a subplan run per firearm:\n{text}"
                );
            }
            _ => {
                // The grant's rows drive a primary-key search of firearm: no scan of firearm,
                // no subquery run once per firearm.
                assert!(
                    steps
                        .iter()
                        .any(|s| s.starts_with("SEARCH firearm USING INTEGER PRIMARY KEY")),
                    "{}\n{text}",
                    statement.sql
                );
                assert!(
                    !steps
                        .iter()
                        .any(|s| s.starts_with("SCAN firearm") || s.contains("CORRELATED")),
                    "{}\n{text}",
                    statement.sql
                );
            }
        }
    }
    pool_idle_within_a_second(&app).await;
}

#[tokio::test]
async fn many_wide_stats_roots_are_refused_up_front_and_a_portals_few_pass() {
    let app = spawn_app_with(|s| s.limits.request_timeout_secs = 1).await;
    fixtures::load(&app.db.db).await;
    let cbp = app.as_role(Role::Cbp);
    let eight = "groupBy: [YEAR, RECOVERY_STATE, SOURCE_CLASS, STATUS, FIREARM_TYPE, CALIBER, MANUFACTURER, PURCHASE_STATE]";
    let roots: String = (0..20)
        .map(|i| format!("s{i}: traceStats({eight}) {{ total buckets {{ count }} }} "))
        .collect();
    let started = Instant::now();
    let (status, refused) = cbp.send(&format!("{{ {roots} }}"), json!({})).await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(error_codes(&refused), ["LIMIT_EXCEEDED"], "{refused}");
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limits.complexity")),
        "{refused}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refused before any work"
    );
    pool_idle_within_a_second(&app).await;

    // A portal's dashboard: a few roots of one to three dimensions.
    let portal = "{ a: traceStats(groupBy: [YEAR]) { total } \
        b: traceStats(groupBy: [YEAR, RECOVERY_STATE]) { total buckets { count } } \
        c: traceStats(groupBy: [YEAR, RECOVERY_STATE, FIREARM_TYPE]) { total buckets { count suppressed } } \
        d: seizureStats(groupBy: [FISCAL_YEAR, PORT_OF_ENTRY]) { total buckets { count firearms } } }";
    let answer = cbp.run(portal).await;
    assert!(answer["data"]["c"]["buckets"].is_array(), "{answer}");
    assert!(answer["data"]["d"]["buckets"].is_array(), "{answer}");
    assert!(
        !error_codes(&answer).contains(&"LIMIT_EXCEEDED".to_owned()),
        "{answer}"
    );
}

/// A statement that runs for much longer than any test: a recursive count on SQLite, a sleep on
/// PostgreSQL.
fn slow_statement(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => "SELECT 1 FROM pg_sleep(60)",
        _ => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000000000) \
             SELECT count(*) FROM n"
        }
    };
    Statement::from_string(backend, sql.to_owned())
}

#[tokio::test]
async fn a_statement_past_the_requests_deadline_is_cancelled_and_its_connection_freed() {
    let app = spawn_app_with(|_| {}).await;
    let db = app.db.db.clone();
    let started = Instant::now();
    let budget = Budget::new(&db, Some(Duration::from_millis(300)));
    let result = budget::within(budget, db.query_one_raw(slow_statement(app.db.backend()))).await;
    assert!(result.is_err(), "the statement was interrupted: {result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopped at the deadline, not at the end: {:?}",
        started.elapsed()
    );
    pool_idle_within_a_second(&app).await;
    // The connection is usable again, outside any budget.
    assert_eq!(app.db.scalar("SELECT 7").await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_cancels_its_statement_and_its_connection_is_freed() {
    let app = spawn_app_with(|_| {}).await;
    let db = app.db.db.clone();
    let backend = app.db.backend();
    let budget = Budget::new(&db, Some(Duration::from_secs(120)));
    let stop = budget.stop_on_drop();
    let request = budget::within(budget, async move {
        let _stop = stop;
        db.query_one_raw(slow_statement(backend)).await
    });
    let watch = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        connections_in_use(&app).await
    };
    // The client goes away while the statement runs: the request's future is dropped.
    tokio::select! {
        result = request => panic!("the statement ended by itself: {result:?}"),
        in_use = watch => assert!(in_use >= 1, "the statement runs"),
    }
    pool_idle_within_a_second(&app).await;
    assert_eq!(app.db.scalar("SELECT 7").await, 7);
}

#[tokio::test]
async fn a_request_over_its_time_is_answered_503_and_leaves_the_pool_idle() {
    let app = spawn_app_with(|s| s.limits.request_timeout_secs = 1).await;
    fixtures::load(&app.db.db).await;
    // Another session holds the traces: on PostgreSQL a read waits for the lock; on SQLite (where
    // readers never wait) the read is made slow by sheer work below.
    let backend = app.db.backend();
    let admin = sea_orm::Database::connect(app.db.url.as_str())
        .await
        .expect("second connection");
    let query = match backend {
        DbBackend::Postgres => {
            admin
                .execute_unprepared("BEGIN; LOCK TABLE trace IN ACCESS EXCLUSIVE MODE")
                .await
                .expect("lock taken");
            "{ traces(first: 1) { totalCount } }".to_owned()
        }
        _ => {
            // Enough traces that 8-dimension grouping of them takes over a second.
            let many = 200_000;
            admin
                .execute_unprepared(&format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {many}) \
                     INSERT INTO trace (trace_number, firearm_id, requesting_agency, recovery_date, \
                     recovery_year, recovery_state, recovery_municipality, status, source_class, \
                     purchase_state, purchase_date, time_to_crime_days, dealer_license, purchaser_name, \
                     owner_agency, source_system, ingested_at, version) \
                     SELECT 'T-SLOW-' || i, (SELECT min(id) FROM firearm), 'FGR', '2020-01-01', 2020 + i % 5, \
                     'MX-' || (i % 997), NULL, 'COMPLETED', 'US_MANUFACTURED', 'S' || (i % 50), NULL, i % 3000, NULL, NULL, \
                     'ATF', 'fixture', '2024-01-01T00:00:00Z', 1 FROM n"
                ))
                .await
                .expect("traces added");
            let eight = "groupBy: [YEAR, RECOVERY_STATE, SOURCE_CLASS, STATUS, FIREARM_TYPE, CALIBER, MANUFACTURER, PURCHASE_STATE]";
            format!(
                "{{ a: traceStats({eight}) {{ total buckets {{ count medianTimeToCrimeDays }} }} \
                 b: traceStats({eight}) {{ total }} c: traceStats({eight}) {{ total }} }}"
            )
        }
    };
    let started = Instant::now();
    let (status, body) = app.as_role(Role::Atf).send(&query, json!({})).await;
    let took = started.elapsed();
    if backend == DbBackend::Postgres {
        admin.execute_unprepared("ROLLBACK").await.ok();
    }
    admin.close().await.ok();
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_codes(&body), ["TIMEOUT"], "{body}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    pool_idle_within_a_second(&app).await;
}
