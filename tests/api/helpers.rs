//! Shared test set-up: a fresh, migrated database per test, removed when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use entity::Role;
use firearms_hub::config::{DatabaseSettings, Settings};
use firearms_hub::store;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// PostgreSQL server URL for tests, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub(crate) const TEST_DATABASE_ENV: &str = "HUB_TEST_DATABASE_URL";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of the test's own. Dropping it removes it.
pub(crate) struct TestDb {
    pub url: String,
    pub db: DatabaseConnection,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(
        #[expect(
            dead_code,
            reason = "held so the directory lives as long as the database"
        )]
        tempfile::TempDir,
    ),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl TestDb {
    /// Creates and migrates a fresh database.
    pub(crate) async fn new() -> TestDb {
        let mut db = Self::empty().await;
        // As a process opens its database (`store::connect_migrated`): on SQLite the pool that
        // serves is opened after the migrations.
        store::migrate(&db.db).await.expect("migrations apply");
        if db.backend() == DbBackend::Sqlite {
            db.db = store::connect(&DatabaseSettings {
                url: db.url.clone(),
                ..DatabaseSettings::default()
            })
            .await
            .expect("sqlite opens again after migrating");
        }
        db
    }

    /// Creates a fresh database without running migrations.
    pub(crate) async fn empty() -> TestDb {
        match std::env::var(TEST_DATABASE_ENV) {
            Ok(admin_url) if !admin_url.trim().is_empty() => Self::postgres(admin_url).await,
            _ => Self::sqlite().await,
        }
    }

    async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display());
        let db = store::connect(&DatabaseSettings {
            url: url.clone(),
            ..DatabaseSettings::default()
        })
        .await
        .expect("sqlite opens");
        TestDb {
            url,
            db,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    async fn postgres(admin_url: String) -> TestDb {
        let name = format!(
            "hub_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4().simple()
        );
        let admin = Database::connect(admin_url.as_str())
            .await
            .expect("test PostgreSQL server reachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = replace_database(&admin_url, &name);
        let db = store::connect(&DatabaseSettings {
            url: url.clone(),
            ..DatabaseSettings::default()
        })
        .await
        .expect("test database opens");
        TestDb {
            url,
            db,
            cleanup: Cleanup::Postgres { admin_url, name },
        }
    }

    /// Settings pointing at this database.
    pub(crate) fn settings(&self) -> Settings {
        Settings::for_database(self.url.clone())
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Runs a query returning one integer (a count or a sum) and returns it.
    pub(crate) async fn scalar(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(Statement::from_string(self.backend(), sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("query failed: {sql}: {e}"))
            .unwrap_or_else(|| panic!("query returned no row: {sql}"));
        row.try_get_by_index::<i64>(0)
            .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
            .or_else(|_| {
                row.try_get_by_index::<Option<i64>>(0)
                    .map(|v| v.unwrap_or(0))
            })
            .unwrap_or_else(|e| panic!("not an integer: {sql}: {e}"))
    }

    /// Runs `sql` (as [`TestDb::scalar`]) until it returns at least `expected`, for rows written in
    /// the background, for five seconds at most; returns the last value.
    pub(crate) async fn scalar_reaching(&self, sql: &str, expected: i64) -> i64 {
        let mut value = self.scalar(sql).await;
        for _ in 1..50 {
            if value >= expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            value = self.scalar(sql).await;
        }
        value
    }

    /// Settings for a test server over this database: any free port, one worker, the test
    /// development secret.
    pub(crate) fn server_settings(&self) -> Settings {
        let mut settings = self.settings();
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.workers = 1;
        settings.auth.dev_secret = Some(secrecy::SecretString::from(TEST_DEV_SECRET));
        settings
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            let admin_url = admin_url.clone();
            let name = name.clone();
            // Drop runs inside the test's runtime, which is blocked while this thread works: do the
            // clean-up on a runtime of its own, and let FORCE end the test's own connections.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("clean-up runtime");
                runtime.block_on(async move {
                    if let Ok(admin) = Database::connect(admin_url.as_str()).await {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

/// Swaps the database name in a PostgreSQL URL, keeping any query string.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let prefix = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// The development signing secret test servers use.
pub(crate) const TEST_DEV_SECRET: &str = "test-only-development-secret-of-48-bytes-0123456";

/// A running hub over a fresh database.
pub(crate) struct TestApp {
    pub address: String,
    /// Shared by the servers of one test that stand for several hub processes on one database.
    pub db: std::sync::Arc<TestDb>,
    pub settings: Settings,
    pub client: reqwest::Client,
}

/// Starts the real server on a free port over a fresh, migrated database.
pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like `spawn_app`, with the settings adjusted first.
pub(crate) async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let db = TestDb::new().await;
    let mut settings = db.server_settings();
    adjust(&mut settings);
    let app = firearms_hub::server::Application::build_with(
        settings.clone(),
        db.db.clone(),
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        db: std::sync::Arc::new(db),
        settings,
        client: http_client(),
    }
}

/// The tests' HTTP client. It drops a pooled connection after a second idle, well inside the
/// server's keep-alive (5 s): a connection left idle while a test works elsewhere (the
/// conformance checker runs Python for seconds) would otherwise be reused just as the server
/// closes it, and the request would fail with an incomplete message.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(1))
        .build()
        .expect("the test HTTP client builds")
}

/// Starts another hub process on `app`'s database: a server with a pool of its own (and so, on
/// PostgreSQL, its own notification listener), with its settings adjusted.
pub(crate) async fn another_process(app: &TestApp, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = app.db.server_settings();
    adjust(&mut settings);
    let pool = store::connect(&settings.database)
        .await
        .expect("the second process connects");
    let server = firearms_hub::server::Application::build_with(
        settings.clone(),
        pool,
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    TestApp {
        address,
        db: app.db.clone(),
        settings,
        client: http_client(),
    }
}

/// A caller of a test server, with a token for one role.
pub(crate) struct As<'a> {
    app: &'a TestApp,
    token: String,
    purpose: Option<String>,
}

impl TestApp {
    /// A caller acting as `role` with the given scopes.
    pub(crate) fn as_role_with(&self, role: Role, scopes: &[&str]) -> As<'_> {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let subject = format!("test-{}", role.as_str().to_ascii_lowercase());
        let token = firearms_hub::auth::mint_dev_token(
            &self.settings.auth,
            role,
            &scopes,
            std::time::Duration::from_secs(600),
            &subject,
        )
        .expect("token minted");
        As {
            app: self,
            token,
            purpose: Some("CASE-2026-0001 test".to_owned()),
        }
    }

    pub(crate) fn as_role(&self, role: Role) -> As<'_> {
        self.as_role_with(role, &[])
    }

    /// Posts a raw body with the given headers; returns status and JSON body.
    pub(crate) async fn post_raw(
        &self,
        token: Option<&str>,
        content_type: &str,
        body: String,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }
}

impl As<'_> {
    /// The same caller, stating no purpose of access (`X-Access-Purpose`).
    pub(crate) fn without_purpose(mut self) -> Self {
        self.purpose = None;
        self
    }

    /// The same caller, stating this purpose.
    pub(crate) fn with_purpose(mut self, purpose: &str) -> Self {
        self.purpose = Some(purpose.to_owned());
        self
    }

    /// Runs an operation; returns the HTTP status and the whole response body.
    pub(crate) async fn send(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let (status, text) = self.send_text(query, variables).await;
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// Runs an operation; returns the HTTP status and the response body as sent (its keys in the
    /// server's order).
    pub(crate) async fn send_text(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> (u16, String) {
        let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
        let mut request = self
            .app
            .client
            .post(format!("{}/graphql", self.app.address))
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {}", self.token))
            .body(body);
        if let Some(purpose) = &self.purpose {
            request = request.header("X-Access-Purpose", purpose);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body read"))
    }

    /// Runs a GraphQL operation, expects HTTP 200, and returns the whole response body.
    pub(crate) async fn query(
        &self,
        query: &str,
        variables: serde_json::Value,
    ) -> serde_json::Value {
        let (status, json) = self.send(query, variables).await;
        assert_eq!(status, 200, "unexpected status for {query}: {json}");
        json
    }

    /// Runs a GraphQL operation without variables, expects HTTP 200, and returns the whole
    /// response body.
    pub(crate) async fn run(&self, query: &str) -> serde_json::Value {
        self.query(query, serde_json::json!({})).await
    }

    /// Runs a GraphQL operation whose one variable, `$id`, is the row `id`; expects HTTP 200 and
    /// returns the whole response body.
    pub(crate) async fn query_on(&self, query: &str, id: i64) -> serde_json::Value {
        let variables = serde_json::json!({ "id": id.to_string() });
        self.query(query, variables).await
    }

    /// Runs a GraphQL operation without variables, expects it to succeed without errors, and
    /// returns the whole response body.
    pub(crate) async fn query_ok(&self, query: &str) -> serde_json::Value {
        let json = self.run(query).await;
        assert!(json["errors"].is_null(), "{json}");
        json
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// A `GET` of a path of the hub (e.g. `/export/traces?format=csv`) as this caller, with its
    /// token and stated purpose.
    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .app
            .client
            .get(format!("{}{path}", self.app.address))
            .header("Authorization", format!("Bearer {}", self.token));
        if let Some(purpose) = &self.purpose {
            request = request.header("X-Access-Purpose", purpose);
        }
        request
    }
}

/// The `extensions.code` of every error in a response.
pub(crate) fn error_codes(response: &serde_json::Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The error paths of a response, each joined with dots ("traces.nodes.0.purchaserName").
pub(crate) fn error_paths(response: &serde_json::Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    e["path"]
                        .as_array()
                        .map(|p| {
                            p.iter()
                                .map(|s| match s {
                                    serde_json::Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(".")
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Starts a server whose database connection counts the SQL statements it runs.
pub(crate) async fn spawn_app_counting_statements() -> (TestApp, Statements) {
    let app = spawn_app().await;
    let statements = Statements::default();
    let mut counted = app.db.db.clone();
    let seen = statements.0.clone();
    counted.set_metric_callback(move |info| {
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(info.statement.sql.clone());
    });
    let mut settings = app.settings.clone();
    // No generation poll during a count (a change would still reach the cache by notification).
    settings.cache.generation_poll_ms = 3_600_000;
    let server = firearms_hub::server::Application::build_with(
        settings,
        counted,
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    (TestApp { address, ..app }, statements)
}

/// The SQL of every statement a test server sent, in order.
#[derive(Clone, Default)]
pub(crate) struct Statements(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Statements {
    pub(crate) fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn all(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The statements that read the data, leaving out the audit trail's append (its transaction,
    /// locks, head read and insert) and the reads of the data generations.
    pub(crate) fn data(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|sql| {
                let upper = sql.trim_start().to_ascii_uppercase();
                let transaction = ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"]
                    .iter()
                    .any(|word| upper.starts_with(word));
                !(transaction
                    || sql.contains("audit_event")
                    || sql.contains("pg_advisory")
                    || sql.contains("data_generation"))
            })
            .collect()
    }
}

/// Starts a server whose policy is read from a file holding `policy` (TOML).
pub(crate) async fn spawn_app_with_policy(policy: &str) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy).expect("policy written");
    let app = spawn_app().await;
    let mut settings = app.settings.clone();
    settings.policy.file = Some(path);
    let policy = firearms_hub::policy::Policy::load(&settings.policy).expect("policy loads");
    let server = firearms_hub::server::Application::build_with(
        settings,
        app.db.db.clone(),
        std::sync::Arc::new(policy),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    TestApp { address, ..app }
}

/// Statements a server's pool ran, in order, with their parameter values.
pub(crate) type Recorded = std::sync::Arc<std::sync::Mutex<Vec<Statement>>>;

/// Starts a server whose pool records every statement it runs (its text and values).
pub(crate) async fn spawn_app_recording_statements() -> (TestApp, Recorded) {
    let app = spawn_app().await;
    let recorded: Recorded = std::sync::Arc::default();
    let mut recording = app.db.db.clone();
    let sink = recorded.clone();
    recording.set_metric_callback(move |info| {
        sink.lock()
            .expect("statement log")
            .push(info.statement.clone());
    });
    let server = firearms_hub::server::Application::build_with(
        app.settings.clone(),
        recording,
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .expect("server binds");
    let address = format!("http://127.0.0.1:{}", server.port());
    tokio::spawn(server.run_until_stopped());
    (TestApp { address, ..app }, recorded)
}

/// The value of a metric with these labels in `/metrics`.
pub(crate) async fn metric(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (label_text, value) = rest.split_once("} ")?;
        labels
            .iter()
            .all(|(label, value)| label_text.contains(&format!("{label}=\"{value}\"")))
            .then(|| value.trim().parse().ok())?
    })
}
