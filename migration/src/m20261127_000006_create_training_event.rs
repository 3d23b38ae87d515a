use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{index, with_provenance};
use crate::m20261127_000001_create_agency::Agency;
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
        manager
            .create_table(
                with_provenance(
                    Table::create()
                        .table(TrainingEvent::Table)
                        .if_not_exists()
                        .col(big_pk_auto(TrainingEvent::Id))
                        .col(string_len_uniq(TrainingEvent::Reference, 48))
                        .col(string_len(TrainingEvent::Course, 24))
                        .col(string_len(TrainingEvent::Provider, 8))
                        .col(date(TrainingEvent::StartDate))
                        .col(date(TrainingEvent::EndDate))
                        .col(integer(TrainingEvent::FiscalYear))
                        .col(string_len(TrainingEvent::MexicanAgency, 16))
                        .col(string_len_null(TrainingEvent::MexicanState, 6))
                        .col(integer(TrainingEvent::Participants))
                        .col(integer(TrainingEvent::EtraceAccountsGranted).default(0))
                        .col(big_integer_null(TrainingEvent::FundingAwardId))
                        .check(
                            Expr::col(TrainingEvent::EndDate)
                                .gte(Expr::col(TrainingEvent::StartDate)),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .name("fk_training_mexican_agency")
                                .from(TrainingEvent::Table, TrainingEvent::MexicanAgency)
                                .to(Agency::Table, Agency::Code)
                                .on_delete(ForeignKeyAction::Restrict),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .name("fk_training_funding_award")
                                .from(TrainingEvent::Table, TrainingEvent::FundingAwardId)
                                .to(FundingAward::Table, FundingAward::Id)
                                .on_delete(ForeignKeyAction::SetNull),
                        ),
                )
                .to_owned(),
            )
            .await?;
        for (name, columns) in [
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
        ] {
            manager
                .create_index(index(TrainingEvent::Table, name, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TrainingEvent::Table).to_owned())
            .await
    }
}
