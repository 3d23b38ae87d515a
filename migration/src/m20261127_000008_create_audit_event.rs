use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::index;

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
            .create_table(
                Table::create()
                    .table(AuditEvent::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AuditEvent::Id))
                    .col(timestamp_with_time_zone(AuditEvent::At))
                    .col(string_len(AuditEvent::Subject, 200))
                    .col(string_len(AuditEvent::Role, 12))
                    .col(string_len_null(AuditEvent::Purpose, 200))
                    .col(string_len(AuditEvent::Operation, 200))
                    .col(string_len(AuditEvent::Entities, 200))
                    .col(string_len(AuditEvent::DataOwners, 64))
                    .col(big_integer(AuditEvent::RowsReturned))
                    .col(string_len(AuditEvent::Outcome, 8))
                    .col(string_len(AuditEvent::CorrelationId, 64))
                    .col(string_len(AuditEvent::PrevHash, 64))
                    .col(string_len_uniq(AuditEvent::Hash, 64))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_audit_at", vec![AuditEvent::At]),
            ("idx_audit_subject", vec![AuditEvent::Subject]),
        ] {
            manager
                .create_index(index(AuditEvent::Table, name, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditEvent::Table).to_owned())
            .await
    }
}
