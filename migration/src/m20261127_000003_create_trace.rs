use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{index, with_provenance};
use crate::m20261127_000001_create_agency::Agency;
use crate::m20261127_000002_create_firearm::Firearm;

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
        manager
            .create_table(
                with_provenance(
                    Table::create()
                        .table(Trace::Table)
                        .if_not_exists()
                        .col(big_pk_auto(Trace::Id))
                        .col(string_len_uniq(Trace::TraceNumber, 32))
                        .col(big_integer(Trace::FirearmId))
                        .col(string_len(Trace::RequestingAgency, 16))
                        .col(date(Trace::RecoveryDate))
                        .col(integer(Trace::RecoveryYear))
                        .col(string_len(Trace::RecoveryState, 6))
                        .col(string_len_null(Trace::RecoveryMunicipality, 100))
                        .col(string_len(Trace::Status, 24))
                        .col(string_len(Trace::SourceClass, 16))
                        .col(string_len_null(Trace::PurchaseState, 2))
                        .col(date_null(Trace::PurchaseDate))
                        .col(integer_null(Trace::TimeToCrimeDays))
                        .col(string_len_null(Trace::DealerLicense, 32))
                        .col(string_len_null(Trace::PurchaserName, 200))
                        .foreign_key(
                            ForeignKey::create()
                                .name("fk_trace_firearm")
                                .from(Trace::Table, Trace::FirearmId)
                                .to(Firearm::Table, Firearm::Id)
                                .on_delete(ForeignKeyAction::Restrict),
                        )
                        .foreign_key(
                            ForeignKey::create()
                                .name("fk_trace_requesting_agency")
                                .from(Trace::Table, Trace::RequestingAgency)
                                .to(Agency::Table, Agency::Code)
                                .on_delete(ForeignKeyAction::Restrict),
                        ),
                )
                .to_owned(),
            )
            .await?;
        for (name, columns) in [
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
        ] {
            manager
                .create_index(index(Trace::Table, name, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Trace::Table).to_owned())
            .await
    }
}
