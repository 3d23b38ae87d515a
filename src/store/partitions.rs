//! The yearly partitions of `trace` on PostgreSQL (migration 000019): traces are partitioned by
//! recovery year, and a year without a partition of its own is stored in `trace_default`, so a
//! write never fails for want of one; only the pruning of queries by year is lost for it.
//! `migrate` (every start of the hub, and `firearms-hub migrate`) creates the partitions of the
//! current and the next year when they are missing, through the database's
//! `ensure_trace_partition(year)`, which moves the year's rows out of the default partition first.
//! An operator may call that function for any year (`SELECT ensure_trace_partition(2031)`).
//! SQLite keeps one table: nothing to do.

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

/// Creates the partitions of the current and the next recovery year when missing (PostgreSQL);
/// returns the years it created.
pub async fn ensure_coming_years(db: &DatabaseConnection) -> anyhow::Result<Vec<i32>> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT y AS year, ensure_trace_partition(y) AS created \
             FROM generate_series(EXTRACT(YEAR FROM CURRENT_DATE)::int, \
             EXTRACT(YEAR FROM CURRENT_DATE)::int + 1) AS y",
        ))
        .await
        .context("cannot create the partitions of this and next year's traces")?;
    let mut created = Vec::new();
    for row in rows {
        let year: i32 = row.try_get("", "year")?;
        if row.try_get::<bool>("", "created")? {
            tracing::info!(year, "created the partition of the year's traces");
            created.push(year);
        }
    }
    Ok(created)
}

/// Creates the partition of one recovery year when missing (PostgreSQL), moving that year's rows
/// out of the default partition; true when it created it.
pub async fn ensure_year(db: &DatabaseConnection, year: i32) -> anyhow::Result<bool> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT ensure_trace_partition($1) AS created",
            [year.into()],
        ))
        .await
        .with_context(|| format!("cannot create the partition of {year}'s traces"))?
        .context("no answer from ensure_trace_partition")?;
    Ok(row.try_get::<bool>("", "created")?)
}
