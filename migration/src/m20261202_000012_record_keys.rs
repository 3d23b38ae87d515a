//! Record keys for disclosure control: every trace, seizure, training event and funding award gets
//! a random `record_key`, uniform in [0, 2^32), once, when it is stored, whatever stores it (API
//! writes, import, demo data, plain SQL). Existing rows get one each here. The key never changes
//! and is never shown; the store sums the keys of a cell's records to perturb aggregate answers
//! consistently (the cell key method, see the store's `stats` and the policy's `suppression`).
//!
//! PostgreSQL draws the key in the column default (a volatile default, so every existing row gets
//! its own). SQLite cannot add a column with an expression default, so the column defaults to -1
//! and a trigger draws the key right after the insert; existing rows are filled by one update.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The tables whose records are counted by the `…Stats` queries.
const TABLES: [&str; 4] = ["trace", "seizure", "training_event", "funding_award"];

fn up_statements(backend: DbBackend, table: &str) -> Result<Vec<String>, DbErr> {
    match backend {
        DbBackend::Postgres => Ok(vec![format!(
            "ALTER TABLE {table} ADD COLUMN record_key BIGINT NOT NULL \
             DEFAULT (floor(random() * 4294967296))::bigint"
        )]),
        DbBackend::Sqlite => Ok(vec![
            format!("ALTER TABLE {table} ADD COLUMN record_key BIGINT NOT NULL DEFAULT -1"),
            format!("UPDATE {table} SET record_key = random() & 4294967295"),
            format!(
                "CREATE TRIGGER {table}_record_key AFTER INSERT ON {table} \
                 FOR EACH ROW WHEN NEW.record_key < 0 BEGIN \
                 UPDATE {table} SET record_key = random() & 4294967295 WHERE rowid = NEW.rowid; \
                 END"
            ),
        ]),
        other => Err(DbErr::Migration(format!(
            "record keys support SQLite and PostgreSQL, not {other:?}"
        ))),
    }
}

fn down_statements(backend: DbBackend, table: &str) -> Vec<String> {
    let mut statements = Vec::new();
    if backend == DbBackend::Sqlite {
        statements.push(format!("DROP TRIGGER IF EXISTS {table}_record_key"));
    }
    statements.push(format!("ALTER TABLE {table} DROP COLUMN record_key"));
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            for sql in up_statements(manager.get_database_backend(), table)? {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            for sql in down_statements(manager.get_database_backend(), table) {
                db.execute_unprepared(&sql).await?;
            }
        }
        Ok(())
    }
}
