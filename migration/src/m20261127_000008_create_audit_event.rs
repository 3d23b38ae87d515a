use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, table_with_id};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AuditEvent {
    Table,
    Id,
    At,
    Subject,
    Role,
    Purpose,
    Operation,
    Entities,
    DataOwners,
    RowsReturned,
    Outcome,
    CorrelationId,
    PrevHash,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(table_with_id(
                AuditEvent::Table,
                AuditEvent::Id,
                [
                    timestamp_with_time_zone(AuditEvent::At),
                    string_len(AuditEvent::Subject, 200),
                    string_len(AuditEvent::Role, 12),
                    string_len_null(AuditEvent::Purpose, 200),
                    string_len(AuditEvent::Operation, 200),
                    string_len(AuditEvent::Entities, 200),
                    string_len(AuditEvent::DataOwners, 64),
                    big_integer(AuditEvent::RowsReturned),
                    string_len(AuditEvent::Outcome, 8),
                    string_len(AuditEvent::CorrelationId, 64),
                    string_len(AuditEvent::PrevHash, 64),
                    string_len_uniq(AuditEvent::Hash, 64),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            AuditEvent::Table,
            [
                ("idx_audit_at", vec![AuditEvent::At]),
                ("idx_audit_subject", vec![AuditEvent::Subject]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, AuditEvent::Table).await
    }
}
