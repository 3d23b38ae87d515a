//! Shared test set-up: a fresh, migrated database per test, removed when the test ends.

use std::sync::atomic::{AtomicU32, Ordering};

use firearms_hub::config::{DatabaseSettings, Settings};
use firearms_hub::store;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

/// PostgreSQL server URL for tests, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub const TEST_DATABASE_ENV: &str = "HUB_TEST_DATABASE_URL";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database of the test's own. Dropping it removes it.
pub struct TestDb {
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
    pub async fn new() -> TestDb {
        let db = Self::empty().await;
        store::migrate(&db.db).await.expect("migrations apply");
        db
    }

    /// Creates a fresh database without running migrations.
    pub async fn empty() -> TestDb {
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
    pub fn settings(&self) -> Settings {
        Settings::for_database(self.url.clone())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Runs a query returning one integer (a count or a sum) and returns it.
    pub async fn scalar(&self, sql: &str) -> i64 {
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
