use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::index;

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
        manager
            .create_table(
                Table::create()
                    .table(AccessGrant::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AccessGrant::Id))
                    .col(string_len(AccessGrant::GranteeRole, 12))
                    .col(string_len(AccessGrant::Entity, 16))
                    .col(text_null(AccessGrant::RowFilter))
                    .col(string_len(AccessGrant::Reason, 200))
                    .col(timestamp_with_time_zone(AccessGrant::StartsAt))
                    .col(timestamp_with_time_zone(AccessGrant::EndsAt))
                    .col(string_len(AccessGrant::GrantedBy, 200))
                    .col(timestamp_with_time_zone(AccessGrant::GrantedAt))
                    .col(timestamp_with_time_zone_null(AccessGrant::RevokedAt))
                    .col(string_len_null(AccessGrant::RevokedBy, 200))
                    .check(Expr::col(AccessGrant::EndsAt).gt(Expr::col(AccessGrant::StartsAt)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                AccessGrant::Table,
                "idx_access_grant_grantee",
                [AccessGrant::GranteeRole, AccessGrant::Entity],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccessGrant::Table).to_owned())
            .await
    }
}
