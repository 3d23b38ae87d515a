//! The audit trail as a hash chain: at most one event may follow any other (a unique `prev_hash`),
//! and the database itself refuses to change or delete an event, identically on SQLite and
//! PostgreSQL (an `UPDATE` or `DELETE` fails with "audit events are append-only"; on PostgreSQL
//! `TRUNCATE` too, which SQLite does not have).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    PrevHash,
}

const UNIQUE_PREV_HASH: &str = "idx_audit_prev_hash_unique";

const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'audit events are append-only'; END; $$",
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event \
     FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event \
     FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event \
     FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_no_delete ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_no_update ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_append_only()",
];

const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event \
     BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
    "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event \
     BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    "DROP TRIGGER IF EXISTS audit_event_no_update",
];

fn guard_statements(backend: DbBackend, up: bool) -> Result<&'static [&'static str], DbErr> {
    match (backend, up) {
        (DbBackend::Postgres, true) => Ok(POSTGRES_UP),
        (DbBackend::Postgres, false) => Ok(POSTGRES_DOWN),
        (DbBackend::Sqlite, true) => Ok(SQLITE_UP),
        (DbBackend::Sqlite, false) => Ok(SQLITE_DOWN),
        (other, _) => Err(DbErr::Migration(format!(
            "the audit chain supports SQLite and PostgreSQL, not {other:?}"
        ))),
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(UNIQUE_PREV_HASH)
                    .table(AuditEvent::Table)
                    .col(AuditEvent::PrevHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in guard_statements(manager.get_database_backend(), true)? {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in guard_statements(manager.get_database_backend(), false)? {
            db.execute_unprepared(sql).await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name(UNIQUE_PREV_HASH)
                    .table(AuditEvent::Table)
                    .to_owned(),
            )
            .await
    }
}
