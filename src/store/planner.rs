//! The planner's statistics. Bulk loads (demo data, imports) change the tables faster than
//! PostgreSQL's autovacuum or SQLite's defaults notice, and plans chosen without statistics can be
//! orders of magnitude slower, so the loads refresh them when they finish.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};

/// Refreshes the planner's statistics of every table: `VACUUM (ANALYZE)` on PostgreSQL (a sample
/// of each table, and the visibility map, without which a count that an index answers, such as a
/// page's `totalCount` over `idx_trace_state_date`, still reads every matching row from the table;
/// at scale 10 the count of a 5-state page took 231 ms as a parallel sequential scan and 72 ms as
/// an index-only scan); on SQLite `PRAGMA optimize` checking every table (`0x10002`), which analyses those never
/// analysed or grown or shrunk tenfold since. SQLite reads the analysed indexes whole: a row limit
/// (`analysis_limit`) reads each index from its start, so a column of few values looks like one of
/// many and its estimates are off by orders of magnitude, while the whole read takes about 3 s at
/// scale 10.
pub async fn refresh_statistics(db: &DatabaseConnection) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DbBackend::Postgres => db.execute_unprepared("VACUUM (ANALYZE)").await.map(|_| ()),
        _ => db
            .execute_unprepared("PRAGMA optimize = 0x10002")
            .await
            .map(|_| ()),
    }
}
