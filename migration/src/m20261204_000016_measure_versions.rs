//! Performance measures that change: a measure's metric parameters (JSON, the catalogue's
//! parameter names to their values), the time it was retired, and its history. Every change of a
//! measure (an update or its retirement) first copies the measure as it was into
//! `performance_measure_version`, so each version a measure ever had stays readable; the current
//! version stays in `performance_measure`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{drop_table, table_with_id};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum PerformanceMeasure {
    Table,
    Parameters,
    RetiredAt,
}

#[derive(DeriveIden)]
enum PerformanceMeasureVersion {
    Table,
    Id,
    MeasureId,
    Code,
    Goal,
    Indicator,
    Metric,
    Parameters,
    Baseline,
    Target,
    PeriodStart,
    PeriodEnd,
    OwnerAgency,
    Version,
    RetiredAt,
    /// When this version was superseded, and by whom (the token subject).
    SupersededAt,
    SupersededBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(PerformanceMeasure::Table)
                    .add_column(text(PerformanceMeasure::Parameters).default("{}"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PerformanceMeasure::Table)
                    .add_column(timestamp_with_time_zone_null(PerformanceMeasure::RetiredAt))
                    .to_owned(),
            )
            .await?;
        use PerformanceMeasureVersion as V;
        manager
            .create_table(table_with_id(
                V::Table,
                V::Id,
                [
                    big_integer(V::MeasureId),
                    string_len(V::Code, 48),
                    text(V::Goal),
                    text(V::Indicator),
                    string_len(V::Metric, 64),
                    text(V::Parameters),
                    big_integer(V::Baseline),
                    big_integer(V::Target),
                    date(V::PeriodStart),
                    date(V::PeriodEnd),
                    string_len(V::OwnerAgency, 8),
                    integer(V::Version),
                    timestamp_with_time_zone_null(V::RetiredAt),
                    timestamp_with_time_zone(V::SupersededAt),
                    string_len(V::SupersededBy, 200),
                ],
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_performance_measure_version_measure")
                    .table(V::Table)
                    .col(V::MeasureId)
                    .col(V::Version)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, PerformanceMeasureVersion::Table).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PerformanceMeasure::Table)
                    .drop_column(PerformanceMeasure::RetiredAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PerformanceMeasure::Table)
                    .drop_column(PerformanceMeasure::Parameters)
                    .to_owned(),
            )
            .await
    }
}
