//! What became of a seizure's firearms: retained as evidence, returned to their owner, destroyed,
//! or transferred to ATF. Null for seizures recorded before it was kept.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Seizure {
    Table,
    Disposition,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Seizure::Table)
                    .add_column(string_len_null(Seizure::Disposition, 24))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Seizure::Table)
                    .drop_column(Seizure::Disposition)
                    .to_owned(),
            )
            .await
    }
}
