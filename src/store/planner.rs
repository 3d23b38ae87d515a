//! The planner's statistics. Bulk loads (demo data, imports) change the tables faster than
//! PostgreSQL's autovacuum or SQLite's defaults notice, and plans chosen without statistics can be
//! orders of magnitude slower, so the loads refresh them when they finish.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

/// Rows SQLite's `ANALYZE` reads per index at most: enough for its planner's estimates, and it
/// keeps the refresh to milliseconds however large the tables grow.
const SQLITE_ANALYSIS_LIMIT: u32 = 1_000;

/// Refreshes the planner's statistics of every table: `ANALYZE` on PostgreSQL (a sample of each
/// table); on SQLite `PRAGMA optimize` checking every table (`0x10002`), which analyses those never
/// analysed or grown or shrunk markedly since, reading at most [`SQLITE_ANALYSIS_LIMIT`] rows per
/// index.
pub async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("ANALYZE").await.map(|_| ()),
        _ => db
            .execute_unprepared(&format!(
                "PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}; PRAGMA optimize = 0x10002;"
            ))
            .await
            .map(|_| ()),
    }
}
