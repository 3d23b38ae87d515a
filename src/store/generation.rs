//! Data generations: a counter per scope of change (migration 000014's `data_generation`). Every
//! transaction that changes a scope bumps its counter inside the transaction, just before it
//! commits, so a generation read before a read of the data never names data older than it. What a
//! process derives from the data (the stats tables, the grants in force) is cached under the
//! generation it was derived at and derived again when the generation moves.
//!
//! On PostgreSQL a bump also sends a notification on [`CHANNEL`] (delivered when, and only if, the
//! transaction commits), so every process on the database hears of a change at once.
//!
//! Lock order: a bump holds its scope's row until commit. Writers bump as their last step before
//! the audit append (which takes the audit lock), so every writer takes the row first and the
//! audit lock second, and no two writers wait on each other in a cycle.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// The PostgreSQL notification channel of generation bumps; the payload is the scope's name.
pub(crate) const CHANNEL: &str = "firearms_hub_generation";

/// A scope of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    /// Traces, seizures, firearms and their links, training events, funding awards, measures and
    /// agencies: whatever the `…Stats` queries and the lists read.
    Records,
    /// Access grants.
    Grants,
}

impl Scope {
    /// The stored name of the scope (the `data_generation.scope` key and the notification payload).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scope::Records => "records",
            Scope::Grants => "grants",
        }
    }

    /// The scope of a stored name.
    pub(crate) fn parse(name: &str) -> Option<Scope> {
        match name {
            "records" => Some(Scope::Records),
            "grants" => Some(Scope::Grants),
            _ => None,
        }
    }
}

/// The generations of every scope, as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Generations {
    pub(crate) records: i64,
    pub(crate) grants: i64,
}

impl Generations {
    /// The generation of one scope.
    pub(crate) fn of(&self, scope: Scope) -> i64 {
        match scope {
            Scope::Records => self.records,
            Scope::Grants => self.grants,
        }
    }
}

/// Bumps `scope`'s generation inside the caller's transaction (and, on PostgreSQL, notifies
/// [`CHANNEL`] at commit). Call it as the last step before the transaction commits.
pub(crate) async fn bump<C: ConnectionTrait>(txn: &C, scope: Scope) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "WITH bumped AS (UPDATE data_generation SET generation = generation + 1 \
             WHERE scope = $1 RETURNING scope) \
             SELECT pg_notify($2, scope) FROM bumped"
        }
        _ => "UPDATE data_generation SET generation = generation + 1 WHERE scope = $1",
    };
    let mut values = vec![scope.as_str().into()];
    if backend == DbBackend::Postgres {
        values.push(CHANNEL.into());
    }
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// The current generations, in one statement.
pub(crate) async fn current<C: ConnectionTrait>(db: &C) -> Result<Generations, DbErr> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT scope, generation FROM data_generation",
        ))
        .await?;
    let mut generations = Generations::default();
    for row in rows {
        let name: String = row.try_get("", "scope")?;
        let value: i64 = row.try_get("", "generation")?;
        match Scope::parse(&name) {
            Some(Scope::Records) => generations.records = value,
            Some(Scope::Grants) => generations.grants = value,
            None => {}
        }
    }
    Ok(generations)
}

#[cfg(test)]
mod tests {
    use sea_orm::TransactionTrait;

    use super::*;
    use crate::config::DatabaseSettings;

    #[tokio::test]
    async fn a_bump_counts_when_its_transaction_commits_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let settings = DatabaseSettings {
            url: format!("sqlite://{}?mode=rwc", dir.path().join("hub.db").display()),
            ..DatabaseSettings::default()
        };
        let db = crate::store::connect(&settings).await.unwrap();
        crate::store::migrate(&db).await.unwrap();
        let start = current(&db).await.unwrap();
        assert_eq!(start, Generations::default());

        let txn = db.begin().await.unwrap();
        bump(&txn, Scope::Records).await.unwrap();
        txn.rollback().await.unwrap();
        assert_eq!(current(&db).await.unwrap(), start, "a rolled-back bump");

        let txn = db.begin().await.unwrap();
        bump(&txn, Scope::Records).await.unwrap();
        bump(&txn, Scope::Records).await.unwrap();
        txn.commit().await.unwrap();
        let txn = db.begin().await.unwrap();
        bump(&txn, Scope::Grants).await.unwrap();
        txn.commit().await.unwrap();
        let now = current(&db).await.unwrap();
        assert_eq!((now.records, now.grants), (2, 1));
        assert_eq!(now.of(Scope::Grants), 1);
    }
}
