use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{drop_table, owned_table};

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
            .create_table(owned_table(
                PerformanceMeasure::Table,
                PerformanceMeasure::Id,
                [
                    string_len_uniq(PerformanceMeasure::Code, 48),
                    text(PerformanceMeasure::Goal),
                    text(PerformanceMeasure::Indicator),
                    string_len(PerformanceMeasure::Metric, 64),
                    big_integer(PerformanceMeasure::Baseline),
                    big_integer(PerformanceMeasure::Target),
                    date(PerformanceMeasure::PeriodStart),
                    date(PerformanceMeasure::PeriodEnd),
                ],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, PerformanceMeasure::Table).await
    }
}
