use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, owned_table};

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
        let mut table = owned_table(
            FundingAward::Table,
            FundingAward::Id,
            [
                string_len_uniq(FundingAward::AwardNumber, 32),
                integer(FundingAward::FiscalYear),
                string_len(FundingAward::Program, 100),
                string_len(FundingAward::Category, 24),
                string_len_null(FundingAward::ImplementingAgency, 8),
                string_len(FundingAward::Recipient, 200),
                big_integer(FundingAward::ObligatedCents),
                big_integer(FundingAward::DisbursedCents),
                text_null(FundingAward::Description),
            ],
        );
        table
            .check(Expr::col(FundingAward::ObligatedCents).gte(0))
            .check(Expr::col(FundingAward::DisbursedCents).gte(0));
        manager.create_table(table).await?;
        create_indexes(
            manager,
            FundingAward::Table,
            [
                ("idx_funding_fiscal_year", vec![FundingAward::FiscalYear]),
                ("idx_funding_category", vec![FundingAward::Category]),
                (
                    "idx_funding_implementing",
                    vec![FundingAward::ImplementingAgency],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, FundingAward::Table).await
    }
}
