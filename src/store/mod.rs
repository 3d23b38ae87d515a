//! The one door to the data. Only this module builds queries; everything else asks it.
//!
//! `connect` opens the pool for the configured backend (SQLite set up for safe concurrent use, or
//! PostgreSQL) and `migrate` brings the schema up to date through the `migration` crate.

pub(crate) mod analytics;
pub(crate) mod audit;
pub mod budget;
pub mod candidates;
pub(crate) mod canonical;
pub(crate) mod demo;
pub(crate) mod door;
pub mod events;
pub(crate) mod filters;
pub(crate) mod firearms;
pub(crate) mod funding;
pub(crate) mod generation;
pub(crate) mod grant_cache;
pub(crate) mod grants;
pub(crate) mod import;
pub(crate) mod leases;
pub(crate) mod links;
pub(crate) mod measures;
pub(crate) mod page;
pub mod partitions;
pub(crate) mod persisted;
pub mod planner;
pub mod reads;
pub(crate) mod scope;
pub(crate) mod seizures;
pub(crate) mod stats;
pub(crate) mod traces;
pub(crate) mod trainings;
pub(crate) mod writes;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use crate::config::DatabaseSettings;
use crate::policy::{Access, Catalogue, EntityKind, FieldInfo};
use door::Described;

/// Opens a connection pool. SQLite gets WAL, a busy timeout, enforced foreign keys and
/// `synchronous = NORMAL`; PostgreSQL gets the statement timeout. Every connection is armed for the
/// request that checks it out (`budget`). SQL statements are not logged.
pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    connect_to(settings, &settings.url).await
}

/// Opens the pool of the read replica of `database.read_url`, when one is configured, with the
/// same pool settings as the primary's; refused unless both URLs are PostgreSQL.
pub async fn connect_replica(
    settings: &DatabaseSettings,
) -> anyhow::Result<Option<DatabaseConnection>> {
    settings.check_read_url()?;
    match &settings.read_url {
        Some(url) => connect_to(settings, url)
            .await
            .context("cannot open the read replica of database.read_url")
            .map(Some),
        None => Ok(None),
    }
}

async fn connect_to(settings: &DatabaseSettings, url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(settings.max_connections.max(1))
        .min_connections(
            settings
                .min_connections
                .min(settings.max_connections.max(1)),
        )
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
        .sqlx_logging(false);
    if settings.statement_timeout_ms > 0 {
        options.statement_timeout(Duration::from_millis(settings.statement_timeout_ms));
    }
    // Every checkout arms the connection for the request it serves (`budget`): the arming talks
    // to the connection, so it also tests it, in place of sqlx's ping before use.
    options
        .test_before_acquire(false)
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|conn, _| Box::pin(budget::arm_sqlite(conn)))
                .before_acquire(|conn, _| {
                    Box::pin(async move { budget::arm_sqlite(conn).await.map(|()| true) })
                })
        });
    let statement_ms = settings.statement_timeout_ms;
    if url.starts_with("postgres") {
        POSTGRES.store(true, std::sync::atomic::Ordering::Relaxed);
        options.map_sqlx_postgres_pool_opts(move |pool| {
            pool.after_connect(move |conn, _| Box::pin(budget::arm_postgres(conn, statement_ms)))
                .before_acquire(move |conn, _| {
                    Box::pin(async move {
                        budget::arm_postgres(conn, statement_ms)
                            .await
                            .map(|()| true)
                    })
                })
        });
    }
    let busy = Duration::from_millis(settings.sqlite_busy_timeout_ms);
    options.map_sqlx_sqlite_opts(move |opts| {
        opts.journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(busy)
            .foreign_keys(true)
            .create_if_missing(true)
    });
    Database::connect(options)
        .await
        .with_context(|| format!("cannot open the database at {}", redact_url(url)))
}

/// Whether the pool this process opened speaks PostgreSQL: where the two planners need the same
/// condition written differently (`firearms::visible`). One process serves one database.
static POSTGRES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn backend_is_postgres() -> bool {
    POSTGRES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Starts a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, which takes the write
/// lock at once (waiting up to `database.sqlite_busy_timeout_ms` for another writer): a deferred
/// transaction that reads first and writes later fails at once with "database is locked" when
/// another connection wrote in between, whatever the busy timeout. Elsewhere a plain `BEGIN`.
pub(crate) async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
        }
        _ => db.begin().await,
    }
}

/// Applies every pending migration, then (on PostgreSQL) makes sure the traces of this year and
/// the next have partitions of their own (`partitions::ensure_coming_years`).
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("cannot apply the database migrations")?;
    partitions::ensure_coming_years(db).await.map(drop)
}

/// Opens the database and applies the migrations, for a process that goes on to use it. On
/// SQLite the pool is then opened afresh: a connection opened before a migration changed a table
/// can keep compiling statements against the old schema, where a quoted column that did not exist
/// yet reads as a string literal (SQLite's double-quoted strings) instead of the column.
pub async fn connect_migrated(settings: &DatabaseSettings) -> anyhow::Result<DatabaseConnection> {
    let db = connect(settings).await?;
    migrate(&db).await?;
    if db.get_database_backend() != DbBackend::Sqlite {
        return Ok(db);
    }
    db.close()
        .await
        .context("cannot close the database after migrating it")?;
    connect(settings).await
}

/// The database holds migrations this binary does not know, by name: a newer release of the hub
/// migrated it.
#[derive(Debug)]
pub struct NewerRelease(pub Vec<String>);

impl std::fmt::Display for NewerRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the database was migrated by a newer release of the hub: it holds {} migration(s) \
             this binary does not know ({}); run that release",
            self.0.len(),
            self.0.join(", ")
        )
    }
}

impl std::error::Error for NewerRelease {}

/// Whether every migration the binary knows has been applied. A [`NewerRelease`] error names the
/// migrations a newer release applied that this binary does not know (during a rolling upgrade,
/// say), rather than the migration library's complaint about a missing file.
pub async fn migrations_current(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let unknown = unknown_migrations(db).await;
    if !unknown.is_empty() {
        return Err(NewerRelease(unknown).into());
    }
    let pending = Migrator::get_pending_migrations(db)
        .await
        .context("cannot read the migration state")?;
    Ok(pending.is_empty())
}

/// The applied migrations this binary does not know, by name; none when the table of applied
/// migrations cannot be read (a new database: the migration library then says what is wrong).
async fn unknown_migrations(db: &DatabaseConnection) -> Vec<String> {
    let known: std::collections::HashSet<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let sql = "SELECT version FROM seaql_migrations ORDER BY version";
    let Ok(rows) = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
    else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|row| row.try_get_by_index::<String>(0).ok())
        .filter(|version| !known.contains(version))
        .collect()
}

/// The database URL with any password replaced, for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The fields of an entity's API type, as its descriptor states them.
fn fields_of<E: Described>() -> Vec<FieldInfo> {
    E::FIELDS
        .iter()
        .map(|f| FieldInfo {
            name: f.name,
            hideable: f.blank.is_some(),
            leads_to: f.leads_to,
        })
        .collect()
}

/// The fields of an entity's API type, from its descriptor.
pub fn fields(kind: EntityKind) -> Vec<FieldInfo> {
    use entity::{
        audit_event, firearm, firearm_link, funding_award, seizure, trace, training_event,
    };
    match kind {
        EntityKind::Trace => fields_of::<trace::Entity>(),
        EntityKind::Seizure => fields_of::<seizure::Entity>(),
        EntityKind::Training => fields_of::<training_event::Entity>(),
        EntityKind::FundingAward => fields_of::<funding_award::Entity>(),
        EntityKind::Firearm => fields_of::<firearm::Entity>(),
        EntityKind::FirearmLink => fields_of::<firearm_link::Entity>(),
        EntityKind::LinkCandidate => fields_of::<candidates::LinkCandidates>(),
        EntityKind::AuditEvent => fields_of::<audit_event::Entity>(),
    }
}

/// The fields of every entity: what a policy is checked against.
pub fn catalogue() -> Catalogue {
    EntityKind::ALL
        .into_iter()
        .map(|k| (k, fields(k)))
        .collect()
}

/// The fields of an entity the caller may not read: those its policy hides or gates by a scope
/// the caller lacks.
pub(crate) fn hidden_fields(access: &Access, kind: EntityKind) -> Vec<String> {
    fields(kind)
        .into_iter()
        .filter(|f| f.hideable && !access.can_read_field(kind, f.name))
        .map(|f| f.name.to_owned())
        .collect()
}

/// Whether the caller is refused this field of an entity: a field a policy may hide that the
/// caller's policy hides (the store has blanked it).
pub fn withheld(access: &Access, kind: EntityKind, field: &str) -> bool {
    !access.can_read_field(kind, field)
        && fields(kind).iter().any(|f| f.name == field && f.hideable)
}

/// Which SQL dialect a connection speaks.
pub fn backend(db: &DatabaseConnection) -> DbBackend {
    db.get_database_backend()
}

#[cfg(test)]
mod tests;
