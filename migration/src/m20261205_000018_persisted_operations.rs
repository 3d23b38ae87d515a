//! Persisted operations, and the document of every audited operation.
//!
//! `persisted_query`: the documents clients registered as automatic persisted queries (Apollo's
//! `extensions.persistedQuery`), by the lower-case hex SHA-256 of their text, shared by every hub
//! process on the database. Bounded by `limits.persisted_max`: the hub evicts the least recently
//! used rows (`last_used_at`, then `id`) when a registration makes the table larger.
//!
//! `audit_event.document_hash`: the SHA-256 of the GraphQL document an event's operation ran
//! (`NULL` for events that ran none, and for those recorded before this migration). Events that
//! carry one hash it with the chain's second encoding (see `src/audit`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, table_with_id};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PersistedQuery {
    Table,
    Id,
    Hash,
    Document,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    DocumentHash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table_with_id(
                PersistedQuery::Table,
                PersistedQuery::Id,
                [
                    string_len(PersistedQuery::Hash, 64).unique_key().to_owned(),
                    text(PersistedQuery::Document),
                    timestamp_with_time_zone(PersistedQuery::CreatedAt),
                    timestamp_with_time_zone(PersistedQuery::LastUsedAt),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            PersistedQuery::Table,
            [(
                "idx_persisted_query_last_used",
                vec![PersistedQuery::LastUsedAt, PersistedQuery::Id],
            )],
        )
        .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .add_column(string_len_null(AuditEvent::DocumentHash, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvent::Table)
                    .drop_column(AuditEvent::DocumentHash)
                    .to_owned(),
            )
            .await?;
        drop_table(manager, PersistedQuery::Table).await
    }
}
