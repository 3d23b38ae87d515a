//! Hardening and operations: request limits refused before any database work, timeouts, 503 when
//! the database is unavailable, 429 past a subject's rate, health, readiness, metrics, correlation
//! ids, graceful shutdown and concurrent writers. Each test checks what a caller gets and that the
//! hub still answers afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::Role;
use firearms_hub::config::Settings;
use firearms_hub::server::{Application, Shutdown};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{
    TEST_DATABASE_ENV, TEST_DEV_SECRET, TestApp, TestDb, error_codes, spawn_app, spawn_app_with,
};

const ME: &str = "{ me { role } }";

fn body(query: &str) -> String {
    json!({ "query": query }).to_string()
}

/// A server over a pool of its own, built from `settings.database` (so pool sizes and timeouts
/// apply), on a fresh database.
struct Custom {
    app: TestApp,
    pool: DatabaseConnection,
    shutdown: Shutdown,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn spawn_custom(adjust: impl FnOnce(&mut Settings)) -> Custom {
    let db = TestDb::new().await;
    let mut settings = db.server_settings();
    adjust(&mut settings);
    let pool = firearms_hub::store::connect(&settings.database)
        .await
        .expect("pool opens");
    let application = Application::build_with(
        settings.clone(),
        pool.clone(),
        Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let shutdown = application.shutdown_handle();
    let server = tokio::spawn(application.run_until_stopped());
    Custom {
        app: TestApp {
            address,
            db: std::sync::Arc::new(db),
            settings,
            client: crate::helpers::http_client(),
        },
        pool,
        shutdown,
        server,
    }
}

async fn get(app: &TestApp, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// Asserts a refusal before execution: the status, one error with the code, no data.
fn assert_refused(status: u16, body: &Value, expected_status: u16, code: &str, why: &str) {
    assert_eq!(status, expected_status, "{why}: {body}");
    assert_eq!(error_codes(body), [code], "{why}: {body}");
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "{why}: no data: {body}"
    );
}

/// Posts an operation; returns the status, the `Retry-After` header and the body.
async fn post_with_headers(
    app: &TestApp,
    token: &str,
    body: String,
) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, retry, json)
}

/// A 503 says when to come back: `Retry-After` in whole seconds, at least one.
fn assert_retry_after(retry: Option<&str>, why: &str) {
    let seconds: u64 = retry
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{why}: Retry-After in seconds, got {retry:?}"));
    assert!(seconds >= 1, "{why}: Retry-After {seconds}");
}

/// A refused document's message names the setting that refused it.
fn assert_names_setting(response: &Value, setting: &str) {
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(setting)),
        "the message names {setting}: {response}"
    );
}

async fn still_answers(app: &TestApp) {
    let me = app.as_role(Role::Atf).run(ME).await;
    assert_eq!(me["data"]["me"]["role"], "ATF", "{me}");
}

#[tokio::test]
async fn query_shape_bombs_are_refused_with_limit_exceeded() {
    let app = spawn_app_with(|s| s.limits.complexity = 50).await;
    let token = app.as_role(Role::Atf).token().to_owned();

    // Depth: data nested 13 levels, valid against the schema.
    let depth = format!(
        "{{ {} traceNumber {} }}",
        "traces { nodes { firearm { traces { nodes { firearm { ".repeat(2),
        "} } } } } } ".repeat(2)
    );
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&depth))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "depth bomb");
    assert_names_setting(&response, "limits.depth");

    // Introspection has a bound of its own: 15 levels pass (standard tooling's query nests that
    // deep), 23 do not, and the lists that multiply an answer nest at most twice.
    let introspection = |chain: usize| {
        format!(
            "{{ __schema {{ types {{ fields {{ args {{ type {{ {} name {} }} }} }} }} }} }}",
            "ofType { ".repeat(chain),
            "} ".repeat(chain)
        )
    };
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&introspection(9)))
        .await;
    assert_eq!(status, 200, "{response}");
    assert!(response.get("errors").is_none(), "{response}");
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&introspection(17)))
        .await;
    assert_refused(
        status,
        &response,
        400,
        "LIMIT_EXCEEDED",
        "introspection depth",
    );
    assert_names_setting(&response, "limits.introspection_depth");
    let lists =
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(lists))
        .await;
    assert_refused(
        status,
        &response,
        400,
        "LIMIT_EXCEEDED",
        "introspection lists",
    );

    // Aliases: 40 copies of a two-field selection exceed a complexity of 50.
    let aliases: String = (0..40).map(|i| format!("a{i}: me {{ role }} ")).collect();
    let (status, response) = app
        .post_raw(
            Some(&token),
            "application/json",
            body(&format!("{{ {aliases} }}")),
        )
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "alias bomb");
    assert_names_setting(&response, "limits.complexity");

    // Directives: five on one field, the limit is four.
    let directives = "{ me @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) { role } }";
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(directives))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "directive bomb");
    assert_names_setting(&response, "limits.directives_per_field");
    still_answers(&app).await;
}

#[tokio::test]
async fn fragment_cycles_and_fragment_bombs_are_refused_at_once() {
    let app = spawn_app().await;
    let token = app.as_role(Role::Atf).token().to_owned();

    let cycle =
        "query { ...A } fragment A on Query { ...B } fragment B on Query { me { role } ...A }";
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(cycle))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "fragment cycle");

    // Each fragment spreads the previous one twice: 2^30 fields once expanded, in a small
    // document. It must be refused without expanding it.
    let mut bomb = String::from("query { ...F30 } fragment F0 on Query { me { role } }");
    for i in 1..=30 {
        bomb.push_str(&format!(
            " fragment F{i} on Query {{ ...F{p} ...F{p} }}",
            p = i - 1
        ));
    }
    let started = Instant::now();
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&bomb))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "fragment bomb");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    still_answers(&app).await;
}

#[tokio::test]
async fn oversized_documents_too_many_tokens_and_bodies_are_refused() {
    let app = spawn_app_with(|s| s.limits.tokens = 100).await;
    let token = app.as_role(Role::Atf).token().to_owned();

    let long = format!("# {}\n{ME}", "x".repeat(40 * 1024));
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&long))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "document bytes");

    let many = format!("{{ me {{ role {} }} }}", "__typename ".repeat(150));
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&many))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "tokens");
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limits.tokens")),
        "{response}"
    );

    let huge = json!({ "query": ME, "variables": { "pad": "p".repeat(300 * 1024) } }).to_string();
    let (status, response) = app.post_raw(Some(&token), "application/json", huge).await;
    assert_refused(status, &response, 413, "LIMIT_EXCEEDED", "body bytes");
    still_answers(&app).await;
}

#[tokio::test]
async fn suggestions_are_off_and_get_never_executes_mutations() {
    let app = spawn_app_with(|s| s.server.development = true).await;
    let wrong = app.as_role(Role::Atf).run("{ mee { role } }").await;
    let message = wrong["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{wrong}");
    assert!(!message.to_lowercase().contains("did you mean"), "{wrong}");

    // A mutation over GET is refused with 405 (even a browser's, even with a token), and
    // nothing runs.
    let mutation = "mutation { deleteTrace(id: \"1\") }";
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&[("query", mutation)])
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(Role::Atf).token()),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 405);
    let page = response.text().await.expect("body");
    assert!(!page.contains("graphiql"), "not the GraphiQL page");
    assert!(!page.contains("\"data\""), "nothing executed");

    let production = spawn_app().await;
    let (status, _) = get(
        &production,
        &format!("/graphql?query={}", "mutation%20%7B%20x%20%7D"),
    )
    .await;
    assert_eq!(status, 401, "no token: refused before anything else");
}

#[tokio::test]
async fn a_subject_over_its_rate_gets_429_and_others_are_unaffected() {
    let app = spawn_app_with(|s| {
        s.limits.rate_per_second = 0.01;
        s.limits.rate_burst = 3;
    })
    .await;
    let atf = app.as_role(Role::Atf);
    for _ in 0..3 {
        atf.run(ME).await;
    }
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {}", atf.token()))
        .body(body(ME))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry_after >= 1);
    let refused: Value = response.json().await.expect("json");
    assert_eq!(error_codes(&refused), ["RATE_LIMITED"], "{refused}");

    // Another subject has a bucket of its own.
    let ice = app.as_role(Role::Ice).run(ME).await;
    assert_eq!(ice["data"]["me"]["role"], "ICE");
}

#[tokio::test]
async fn an_exhausted_pool_answers_503_unavailable_and_recovers() {
    let custom = spawn_custom(|s| {
        s.database.max_connections = 1;
        s.database.min_connections = 1;
        s.database.acquire_timeout_secs = 1;
    })
    .await;
    let app = &custom.app;
    let token = app.as_role(Role::Atf).token().to_owned();
    let query = body("{ traces { totalCount } }");

    let held = custom.pool.begin().await.expect("the one connection");
    let started = Instant::now();
    let (status, retry, response) = post_with_headers(app, &token, query.clone()).await;
    assert_eq!(status, 503, "{response}");
    assert!(
        error_codes(&response).contains(&"UNAVAILABLE".to_owned()),
        "{response}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    assert_retry_after(retry.as_deref(), "UNAVAILABLE");
    let (ready, _) = get(app, "/readyz").await;
    assert_eq!(ready, 503, "not ready without a connection");
    let (health, _) = get(app, "/healthz").await;
    assert_eq!(health, 200, "the process is up");

    held.rollback().await.expect("released");
    let (status, response) = app.post_raw(Some(&token), "application/json", query).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["data"]["traces"]["totalCount"], 0, "{response}");
    let (ready, _) = get(app, "/readyz").await;
    assert_eq!(ready, 200);
}

#[tokio::test]
async fn a_request_over_its_time_limit_answers_503_timeout() {
    let custom = spawn_custom(|s| {
        s.database.max_connections = 1;
        s.database.min_connections = 1;
        s.database.acquire_timeout_secs = 20;
        s.limits.request_timeout_secs = 1;
    })
    .await;
    let app = &custom.app;
    let token = app.as_role(Role::Atf).token().to_owned();
    let held = custom.pool.begin().await.expect("the one connection");
    let started = Instant::now();
    let (status, retry, response) =
        post_with_headers(app, &token, body("{ traces { totalCount } }")).await;
    assert_refused(status, &response, 503, "TIMEOUT", "request timeout");
    assert_retry_after(retry.as_deref(), "TIMEOUT");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    held.rollback().await.expect("released");
    still_answers(app).await;
    // The abandoned operation is in the audit trail, as an error.
    let recorded = app
        .db
        .scalar_reaching(
            "SELECT COUNT(*) FROM audit_event WHERE outcome = 'error' AND subject = 'test-atf'",
            1,
        )
        .await;
    assert_eq!(recorded, 1);
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_outcome() {
    let app = spawn_app().await;
    let atf = app.as_role(Role::Atf);
    for _ in 0..3 {
        atf.run("query OpsMetricsProbe { me { role } }").await;
    }
    let (status, _) = app.post_raw(None, "application/json", body(ME)).await;
    assert_eq!(status, 401);
    let (status, text) = get(&app, "/metrics").await;
    assert_eq!(status, 200);
    let probe = text
        .lines()
        .find(|l| {
            l.starts_with("hub_graphql_requests_total{")
                && l.contains("operation=\"OpsMetricsProbe\"")
                && l.contains("outcome=\"ok\"")
        })
        .unwrap_or_else(|| panic!("request counter with operation label: {text}"));
    let count: f64 = probe
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(count >= 3.0, "{probe}");
    for name in [
        "hub_graphql_requests_total{",
        "outcome=\"unauthenticated\"",
        "hub_graphql_request_duration_seconds_bucket{le=",
        "hub_graphql_request_duration_seconds_count",
        "hub_db_connections{state=\"in_use\"}",
        "hub_db_connections{state=\"idle\"}",
        "hub_db_connections_max",
        "audit_write_failures_total",
    ] {
        assert!(text.contains(name), "{name} in {text}");
    }
    assert!(!text.contains(atf.token()), "no tokens");
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let token = app.as_role(Role::Atf).token().to_owned();
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Request-Id", "ops-test-7f3a")
        .body(body(ME))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("ops-test-7f3a")
    );

    for given in [None, Some("not usable: spaces and <tags>")] {
        let mut request = app.client.get(format!("{}/healthz", app.address));
        if let Some(given) = given {
            request = request.header("X-Request-Id", given);
        }
        let response = request.send().await.expect("sent");
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("an id is generated")
            .to_owned();
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
}

#[tokio::test]
async fn shutting_down_reports_not_ready_then_drains_and_stops() {
    let custom = spawn_custom(|s| {
        s.server.shutdown_drain_secs = 2;
        s.server.shutdown_timeout_secs = 5;
    })
    .await;
    let app = &custom.app;
    assert_eq!(get(app, "/readyz").await.0, 200);
    custom.shutdown.begin();
    let (ready, text) = get(app, "/readyz").await;
    assert_eq!(ready, 503, "{text}");
    assert!(text.contains("shutting down"), "{text}");
    still_answers(app).await;
    let stopped = tokio::time::timeout(Duration::from_secs(10), custom.server)
        .await
        .expect("stops within the drain and shutdown timeouts")
        .expect("server task");
    assert!(stopped.is_ok(), "{stopped:?}");
    assert!(
        app.client
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn serve_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("serve.db").display()
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_firearms-hub"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &url])
        .current_dir(dir.path())
        .env("HUB_AUTH_DEV_SECRET", TEST_DEV_SECRET)
        .env("HUB_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let base = loop {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                if let Some(at) = line.find("http://") {
                    break line[at..].trim_end_matches("/graphql").to_owned();
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("serve printed no address: {e}");
            }
        }
    };
    let client = crate::helpers::http_client();
    let health = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status().as_u16(), 200);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit within the shutdown timeout");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[tokio::test]
async fn concurrent_writers_never_see_a_locked_database() {
    let app = spawn_app().await;
    let atf = app.as_role(Role::Atf);
    const CREATE: &str =
        "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber } }";
    let requests = (0..40).map(|i| {
        let input = fixtures::without(
            fixtures::trace_input(&format!("T-CONC-{i:03}"), &format!("CONC-{i:04}")),
            &["dealerLicense", "purchaserName"],
        );
        atf.query(CREATE, json!({ "input": input }))
    });
    let responses = futures_util::future::join_all(requests).await;
    for response in &responses {
        let text = response.to_string();
        assert!(!text.to_lowercase().contains("locked"), "{text}");
        assert!(response.get("errors").is_none(), "{text}");
        assert!(response["data"]["createTrace"]["id"].is_string(), "{text}");
    }
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace WHERE trace_number LIKE 'T-CONC-%'")
            .await,
        40
    );
}

#[tokio::test]
async fn a_database_that_goes_away_answers_503_and_the_hub_recovers() {
    let Ok(admin_url) = std::env::var(TEST_DATABASE_ENV) else {
        // Only a database server can go away and come back; SQLite is a file in the process.
        return;
    };
    if admin_url.trim().is_empty() {
        return;
    }
    let custom = spawn_custom(|s| {
        s.database.max_connections = 2;
        s.database.connect_timeout_secs = 2;
        s.database.acquire_timeout_secs = 2;
    })
    .await;
    let app = &custom.app;
    let name = app
        .db
        .url
        .rsplit('/')
        .next()
        .and_then(|n| n.split('?').next())
        .expect("database name")
        .to_owned();
    let token = app.as_role(Role::Atf).token().to_owned();
    let query = body("{ traces { totalCount } }");
    still_answers(app).await;

    let admin = Database::connect(admin_url.as_str())
        .await
        .expect("admin connection");
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"
        ))
        .await
        .expect("refuse connections");
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ))
        .await
        .expect("end connections");

    for _ in 0..3 {
        let started = Instant::now();
        let (status, retry, response) = post_with_headers(app, &token, query.clone()).await;
        assert_eq!(status, 503, "{response}");
        assert_retry_after(retry.as_deref(), "database gone");
        assert!(
            error_codes(&response).contains(&"UNAVAILABLE".to_owned()),
            "{response}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "fails fast");
    }
    assert_eq!(get(app, "/readyz").await.0, 503);

    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"
        ))
        .await
        .expect("allow connections");
    admin.close().await.ok();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, response) = app
            .post_raw(Some(&token), "application/json", query.clone())
            .await;
        if status == 200 {
            assert_eq!(response["data"]["traces"]["totalCount"], 0, "{response}");
            break;
        }
        assert!(Instant::now() < deadline, "did not recover: {response}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(get(app, "/readyz").await.0, 200, "ready again");
}

#[tokio::test]
async fn the_statement_timeout_cancels_long_statements_on_postgres() {
    let Ok(admin_url) = std::env::var(TEST_DATABASE_ENV) else {
        // `database.statement_timeout_ms` is a PostgreSQL setting; SQLite has none.
        return;
    };
    if admin_url.trim().is_empty() {
        return;
    }
    let custom = spawn_custom(|s| s.database.statement_timeout_ms = 300).await;
    let started = Instant::now();
    let error = custom
        .pool
        .execute_unprepared("SELECT pg_sleep(3)")
        .await
        .expect_err("cancelled by statement_timeout");
    assert!(started.elapsed() < Duration::from_secs(2), "{error}");
    assert_eq!(
        firearms_hub::error::unavailability(&error),
        Some("the database did not answer in time"),
        "{error}"
    );
    still_answers(&custom.app).await;
}

#[tokio::test]
async fn readiness_fails_while_migrations_are_pending() {
    let app = spawn_app().await;
    assert_eq!(get(&app, "/readyz").await.0, 200, "migrated: ready");

    // The database forgets it applied the first migration, as if a newer binary had one to apply.
    let first = "m20261127_000001_create_agency";
    let forget = format!("DELETE FROM seaql_migrations WHERE version = '{first}'");
    let forgotten = app
        .db
        .db
        .execute_unprepared(&forget)
        .await
        .expect("migration row removed");
    assert_eq!(forgotten.rows_affected(), 1, "the migration was recorded");
    let (status, text) = get(&app, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("migrations are pending"), "{text}");
    assert_eq!(get(&app, "/healthz").await.0, 200, "the process is up");

    app.db
        .db
        .execute_unprepared(&format!(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{first}', 0)"
        ))
        .await
        .expect("migration row restored");
    assert_eq!(get(&app, "/readyz").await.0, 200, "current again: ready");
}

#[tokio::test]
async fn readiness_names_the_migrations_of_a_newer_release() {
    let app = spawn_app().await;
    // A newer release migrated the database while this one still runs (a rolling upgrade).
    let newer = "m20991231_000099_from_a_newer_release";
    app.db
        .db
        .execute_unprepared(&format!(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('{newer}', 0)"
        ))
        .await
        .expect("a newer migration recorded");
    let (status, text) = get(&app, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("newer release") && text.contains(newer),
        "{text}"
    );
    assert!(!text.contains("unreachable"), "{text}");
    assert_eq!(get(&app, "/healthz").await.0, 200, "the process is up");

    app.db
        .db
        .execute_unprepared(&format!(
            "DELETE FROM seaql_migrations WHERE version = '{newer}'"
        ))
        .await
        .expect("the newer migration forgotten");
    assert_eq!(get(&app, "/readyz").await.0, 200, "current again: ready");
}

/// A query whose `me` sits inside `levels` nested inline fragments.
fn nested_fragments(levels: usize) -> String {
    format!(
        "{{ {}me {{ role }}{} }}",
        "... on Query { ".repeat(levels),
        " }".repeat(levels)
    )
}

#[tokio::test]
async fn fragments_nested_beyond_the_recursive_depth_are_refused() {
    // Nested inline fragments add no depth (`limits.depth`) but recursion: `me`'s selection is
    // at recursion depth levels + 1.
    let app = spawn_app_with(|s| s.limits.recursive_depth = 6).await;
    let token = app.as_role(Role::Atf).token().to_owned();
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&nested_fragments(5)))
        .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["data"]["me"]["role"], "ATF", "{response}");
    let (status, response) = app
        .post_raw(Some(&token), "application/json", body(&nested_fragments(6)))
        .await;
    assert_refused(status, &response, 400, "LIMIT_EXCEEDED", "recursive depth");
    assert_names_setting(&response, "limits.recursive_depth");
    still_answers(&app).await;

    // The same document is served under the default of 32: the setting decided.
    let default = spawn_app().await;
    let me = default
        .as_role(Role::Atf)
        .query(&nested_fragments(6), json!({}))
        .await;
    assert_eq!(me["data"]["me"]["role"], "ATF", "{me}");
}

#[tokio::test]
async fn an_unexpected_error_answers_internal_with_the_requests_correlation_id() {
    let app = spawn_app().await;
    crate::fixtures::load(&app.db.db).await;
    // A row the code cannot read: a status outside the enumeration, as a bad manual edit or a
    // broken migration would leave it.
    app.db
        .db
        .execute_unprepared(
            "UPDATE trace SET status = 'MISPLACED_BY_HAND' WHERE trace_number = 'T-1'",
        )
        .await
        .expect("row corrupted");
    let token = app.as_role(Role::Atf).token().to_owned();
    let query = body("query InternalProbe { traces { nodes { traceNumber status } } }");

    for given in [Some("internal-probe-42"), None] {
        let mut request = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {token}"))
            .body(query.clone());
        if let Some(given) = given {
            request = request.header("X-Request-Id", given);
        }
        let response = request.send().await.expect("sent");
        let header = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("the correlation id comes back in X-Request-Id");
        if let Some(given) = given {
            assert_eq!(header, given, "the caller's id is the correlation id");
        }
        let answer: Value = response.json().await.expect("json");
        assert_eq!(error_codes(&answer), ["INTERNAL"], "{answer}");
        let error = &answer["errors"][0];
        assert_eq!(
            error["extensions"]["correlationId"], header,
            "the error quotes the request's correlation id: {answer}"
        );
        let message = error["message"].as_str().expect("a message");
        assert!(message.contains(&header), "{message}");
        // A generic message: nothing of the cause.
        for detail in [
            "MISPLACED",
            "status",
            "trace",
            "enum",
            "SQL",
            "sql",
            "column",
            "Db",
            "decode",
        ] {
            assert!(
                !message.contains(detail),
                "'{detail}' leaks from the cause: {message}"
            );
        }
        // The audit event of the request carries the same id.
        assert_eq!(
            app.db
                .scalar(&format!(
                    "SELECT COUNT(*) FROM audit_event WHERE correlation_id = '{header}' \
                     AND operation = 'InternalProbe' AND outcome = 'error'"
                ))
                .await,
            1,
            "the audit event of {header}"
        );
    }

    // The audit event cannot be written (its table is gone): the result is withheld, as INTERNAL
    // with the request's correlation id.
    app.db
        .db
        .execute_unprepared("ALTER TABLE audit_event RENAME TO audit_event_elsewhere")
        .await
        .expect("audit table moved");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Request-Id", "audit-probe-7")
        .body(body("{ me { role } }"))
        .send()
        .await
        .expect("sent");
    let answer: Value = response.json().await.expect("json");
    assert_eq!(error_codes(&answer), ["INTERNAL"], "{answer}");
    assert!(answer["data"].is_null(), "the result is withheld: {answer}");
    assert_eq!(
        answer["errors"][0]["extensions"]["correlationId"], "audit-probe-7",
        "{answer}"
    );
    app.db
        .db
        .execute_unprepared("ALTER TABLE audit_event_elsewhere RENAME TO audit_event")
        .await
        .expect("audit table back");
    still_answers(&app).await;
}
