use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{drop_table, index, table_with_id};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum AccessGrant {
    Table,
    Id,
    GranteeRole,
    Entity,
    RowFilter,
    Reason,
    StartsAt,
    EndsAt,
    GrantedBy,
    GrantedAt,
    RevokedAt,
    RevokedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = table_with_id(
            AccessGrant::Table,
            AccessGrant::Id,
            [
                string_len(AccessGrant::GranteeRole, 12),
                string_len(AccessGrant::Entity, 16),
                text_null(AccessGrant::RowFilter),
                string_len(AccessGrant::Reason, 200),
                timestamp_with_time_zone(AccessGrant::StartsAt),
                timestamp_with_time_zone(AccessGrant::EndsAt),
                string_len(AccessGrant::GrantedBy, 200),
                timestamp_with_time_zone(AccessGrant::GrantedAt),
                timestamp_with_time_zone_null(AccessGrant::RevokedAt),
                string_len_null(AccessGrant::RevokedBy, 200),
            ],
        );
        table.check(Expr::col(AccessGrant::EndsAt).gt(Expr::col(AccessGrant::StartsAt)));
        manager.create_table(table).await?;
        manager
            .create_index(index(
                AccessGrant::Table,
                "idx_access_grant_grantee",
                [AccessGrant::GranteeRole, AccessGrant::Entity],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, AccessGrant::Table).await
    }
}
