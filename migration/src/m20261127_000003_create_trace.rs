use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{
    create_indexes, drop_table, owned_table, references_agency, references_firearm,
};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
#[expect(
    clippy::enum_variant_names,
    reason = "variants are the table's column names"
)]
enum Trace {
    Table,
    Id,
    TraceNumber,
    FirearmId,
    RequestingAgency,
    RecoveryDate,
    RecoveryYear,
    RecoveryState,
    RecoveryMunicipality,
    Status,
    SourceClass,
    PurchaseState,
    PurchaseDate,
    TimeToCrimeDays,
    DealerLicense,
    PurchaserName,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut table = owned_table(
            Trace::Table,
            Trace::Id,
            [
                string_len_uniq(Trace::TraceNumber, 32),
                big_integer(Trace::FirearmId),
                string_len(Trace::RequestingAgency, 16),
                date(Trace::RecoveryDate),
                integer(Trace::RecoveryYear),
                string_len(Trace::RecoveryState, 6),
                string_len_null(Trace::RecoveryMunicipality, 100),
                string_len(Trace::Status, 24),
                string_len(Trace::SourceClass, 16),
                string_len_null(Trace::PurchaseState, 2),
                date_null(Trace::PurchaseDate),
                integer_null(Trace::TimeToCrimeDays),
                string_len_null(Trace::DealerLicense, 32),
                string_len_null(Trace::PurchaserName, 200),
            ],
        );
        table
            .foreign_key(&mut references_firearm(
                "fk_trace_firearm",
                Trace::Table,
                Trace::FirearmId,
            ))
            .foreign_key(&mut references_agency(
                "fk_trace_requesting_agency",
                Trace::Table,
                Trace::RequestingAgency,
            ));
        manager.create_table(table).await?;
        create_indexes(
            manager,
            Trace::Table,
            [
                ("idx_trace_firearm", vec![Trace::FirearmId]),
                (
                    "idx_trace_recovery_date",
                    vec![Trace::RecoveryDate, Trace::Id],
                ),
                (
                    "idx_trace_year_source",
                    vec![Trace::RecoveryYear, Trace::SourceClass],
                ),
                ("idx_trace_recovery_state", vec![Trace::RecoveryState]),
                ("idx_trace_source_class", vec![Trace::SourceClass]),
                ("idx_trace_status", vec![Trace::Status]),
                ("idx_trace_purchase_state", vec![Trace::PurchaseState]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Trace::Table).await
    }
}
