use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{index, with_provenance};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
pub(crate) enum FundingAward {
    Table,
    Id,
    AwardNumber,
    FiscalYear,
    Program,
    Category,
    ImplementingAgency,
    Recipient,
    ObligatedCents,
    DisbursedCents,
    Description,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                with_provenance(
                    Table::create()
                        .table(FundingAward::Table)
                        .if_not_exists()
                        .col(big_pk_auto(FundingAward::Id))
                        .col(string_len_uniq(FundingAward::AwardNumber, 32))
                        .col(integer(FundingAward::FiscalYear))
                        .col(string_len(FundingAward::Program, 100))
                        .col(string_len(FundingAward::Category, 24))
                        .col(string_len_null(FundingAward::ImplementingAgency, 8))
                        .col(string_len(FundingAward::Recipient, 200))
                        .col(big_integer(FundingAward::ObligatedCents))
                        .col(big_integer(FundingAward::DisbursedCents))
                        .col(text_null(FundingAward::Description))
                        .check(Expr::col(FundingAward::ObligatedCents).gte(0))
                        .check(Expr::col(FundingAward::DisbursedCents).gte(0)),
                )
                .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_funding_fiscal_year", vec![FundingAward::FiscalYear]),
            ("idx_funding_category", vec![FundingAward::Category]),
            (
                "idx_funding_implementing",
                vec![FundingAward::ImplementingAgency],
            ),
        ] {
            manager
                .create_index(index(FundingAward::Table, name, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FundingAward::Table).to_owned())
            .await
    }
}
