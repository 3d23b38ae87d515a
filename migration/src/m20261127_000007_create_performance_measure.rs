use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::with_provenance;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PerformanceMeasure {
    Table,
    Id,
    Code,
    Goal,
    Indicator,
    Metric,
    Baseline,
    Target,
    PeriodStart,
    PeriodEnd,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                with_provenance(
                    Table::create()
                        .table(PerformanceMeasure::Table)
                        .if_not_exists()
                        .col(big_pk_auto(PerformanceMeasure::Id))
                        .col(string_len_uniq(PerformanceMeasure::Code, 48))
                        .col(text(PerformanceMeasure::Goal))
                        .col(text(PerformanceMeasure::Indicator))
                        .col(string_len(PerformanceMeasure::Metric, 64))
                        .col(big_integer(PerformanceMeasure::Baseline))
                        .col(big_integer(PerformanceMeasure::Target))
                        .col(date(PerformanceMeasure::PeriodStart))
                        .col(date(PerformanceMeasure::PeriodEnd)),
                )
                .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PerformanceMeasure::Table).to_owned())
            .await
    }
}
