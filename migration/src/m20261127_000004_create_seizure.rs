use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{index, with_provenance};
use crate::m20261127_000002_create_firearm::Firearm;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
enum Seizure {
    Table,
    Id,
    CaseNumber,
    SeizingAgency,
    Operation,
    SeizedOn,
    FiscalYear,
    UsState,
    PortOfEntry,
    Direction,
    ConcealmentMethod,
    AmmunitionRounds,
    FirearmCount,
}

#[derive(DeriveIden)]
enum SeizureFirearm {
    Table,
    SeizureId,
    FirearmId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                with_provenance(
                    Table::create()
                        .table(Seizure::Table)
                        .if_not_exists()
                        .col(big_pk_auto(Seizure::Id))
                        .col(string_len_uniq(Seizure::CaseNumber, 32))
                        .col(string_len(Seizure::SeizingAgency, 8))
                        .col(string_len_null(Seizure::Operation, 100))
                        .col(date(Seizure::SeizedOn))
                        .col(integer(Seizure::FiscalYear))
                        .col(string_len(Seizure::UsState, 2))
                        .col(string_len_null(Seizure::PortOfEntry, 64))
                        .col(string_len(Seizure::Direction, 10))
                        .col(string_len_null(Seizure::ConcealmentMethod, 100))
                        .col(big_integer(Seizure::AmmunitionRounds).default(0))
                        .col(integer(Seizure::FirearmCount).default(0)),
                )
                .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_seizure_seized_on",
                vec![Seizure::SeizedOn, Seizure::Id],
            ),
            ("idx_seizure_fiscal_year", vec![Seizure::FiscalYear]),
            ("idx_seizure_agency", vec![Seizure::SeizingAgency]),
            ("idx_seizure_port", vec![Seizure::PortOfEntry]),
            ("idx_seizure_us_state", vec![Seizure::UsState]),
        ] {
            manager
                .create_index(index(Seizure::Table, name, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(SeizureFirearm::Table)
                    .if_not_exists()
                    .col(big_integer(SeizureFirearm::SeizureId))
                    .col(big_integer(SeizureFirearm::FirearmId))
                    .primary_key(
                        Index::create()
                            .col(SeizureFirearm::SeizureId)
                            .col(SeizureFirearm::FirearmId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_seizure_firearm_seizure")
                            .from(SeizureFirearm::Table, SeizureFirearm::SeizureId)
                            .to(Seizure::Table, Seizure::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_seizure_firearm_firearm")
                            .from(SeizureFirearm::Table, SeizureFirearm::FirearmId)
                            .to(Firearm::Table, Firearm::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                SeizureFirearm::Table,
                "idx_seizure_firearm_firearm",
                [SeizureFirearm::FirearmId],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SeizureFirearm::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Seizure::Table).to_owned())
            .await
    }
}
