use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, foreign_key, owned_table, references_agency};
use crate::m20261127_000005_create_funding_award::FundingAward;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum TrainingEvent {
    Table,
    Id,
    Reference,
    Course,
    Provider,
    StartDate,
    EndDate,
    FiscalYear,
    MexicanAgency,
    MexicanState,
    Participants,
    EtraceAccountsGranted,
    FundingAwardId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = owned_table(
            TrainingEvent::Table,
            TrainingEvent::Id,
            [
                string_len_uniq(TrainingEvent::Reference, 48),
                string_len(TrainingEvent::Course, 24),
                string_len(TrainingEvent::Provider, 8),
                date(TrainingEvent::StartDate),
                date(TrainingEvent::EndDate),
                integer(TrainingEvent::FiscalYear),
                string_len(TrainingEvent::MexicanAgency, 16),
                string_len_null(TrainingEvent::MexicanState, 6),
                integer(TrainingEvent::Participants),
                integer(TrainingEvent::EtraceAccountsGranted)
                    .default(0)
                    .to_owned(),
                big_integer_null(TrainingEvent::FundingAwardId),
            ],
        );
        table
            .check(Expr::col(TrainingEvent::EndDate).gte(Expr::col(TrainingEvent::StartDate)))
            .foreign_key(&mut references_agency(
                "fk_training_mexican_agency",
                TrainingEvent::Table,
                TrainingEvent::MexicanAgency,
            ))
            .foreign_key(&mut foreign_key(
                "fk_training_funding_award",
                (TrainingEvent::Table, TrainingEvent::FundingAwardId),
                (FundingAward::Table, FundingAward::Id),
                ForeignKeyAction::SetNull,
            ));
        manager.create_table(table).await?;
        create_indexes(
            manager,
            TrainingEvent::Table,
            [
                (
                    "idx_training_start",
                    vec![TrainingEvent::StartDate, TrainingEvent::Id],
                ),
                ("idx_training_fiscal_year", vec![TrainingEvent::FiscalYear]),
                ("idx_training_course", vec![TrainingEvent::Course]),
                (
                    "idx_training_funding_award",
                    vec![TrainingEvent::FundingAwardId],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, TrainingEvent::Table).await
    }
}
