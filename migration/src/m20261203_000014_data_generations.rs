//! Data generations: one counter per scope of change, bumped by every transaction that changes
//! that scope (writes, imports, deletes and demo loads change `records`; creating or revoking a
//! grant changes `grants`), in that transaction. A process caches what it derives from the data
//! (stats tables, grants in force) under the generation it read, and recomputes when the
//! generation moves; on PostgreSQL a bump also notifies every listening process at commit.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum DataGeneration {
    Table,
    Scope,
    Generation,
}

/// The scopes, one row each.
const SCOPES: [&str; 2] = ["records", "grants"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DataGeneration::Table)
                    .if_not_exists()
                    .col(string_len(DataGeneration::Scope, 16).primary_key())
                    .col(big_integer(DataGeneration::Generation).default(0))
                    .to_owned(),
            )
            .await?;
        for scope in SCOPES {
            manager
                .exec_stmt(
                    Query::insert()
                        .into_table(DataGeneration::Table)
                        .columns([DataGeneration::Scope, DataGeneration::Generation])
                        .values_panic([scope.into(), 0i64.into()])
                        .on_conflict(
                            OnConflict::column(DataGeneration::Scope)
                                .do_nothing()
                                .to_owned(),
                        )
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(DataGeneration::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
