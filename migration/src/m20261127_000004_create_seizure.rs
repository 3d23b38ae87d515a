use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{
    create_indexes, drop_table, foreign_key, index, owned_table, references_firearm,
};

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
            .create_table(owned_table(
                Seizure::Table,
                Seizure::Id,
                [
                    string_len_uniq(Seizure::CaseNumber, 32),
                    string_len(Seizure::SeizingAgency, 8),
                    string_len_null(Seizure::Operation, 100),
                    date(Seizure::SeizedOn),
                    integer(Seizure::FiscalYear),
                    string_len(Seizure::UsState, 2),
                    string_len_null(Seizure::PortOfEntry, 64),
                    string_len(Seizure::Direction, 10),
                    string_len_null(Seizure::ConcealmentMethod, 100),
                    big_integer(Seizure::AmmunitionRounds).default(0).to_owned(),
                    integer(Seizure::FirearmCount).default(0).to_owned(),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            Seizure::Table,
            [
                (
                    "idx_seizure_seized_on",
                    vec![Seizure::SeizedOn, Seizure::Id],
                ),
                ("idx_seizure_fiscal_year", vec![Seizure::FiscalYear]),
                ("idx_seizure_agency", vec![Seizure::SeizingAgency]),
                ("idx_seizure_port", vec![Seizure::PortOfEntry]),
                ("idx_seizure_us_state", vec![Seizure::UsState]),
            ],
        )
        .await?;

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
                    .foreign_key(&mut foreign_key(
                        "fk_seizure_firearm_seizure",
                        (SeizureFirearm::Table, SeizureFirearm::SeizureId),
                        (Seizure::Table, Seizure::Id),
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut references_firearm(
                        "fk_seizure_firearm_firearm",
                        SeizureFirearm::Table,
                        SeizureFirearm::FirearmId,
                    ))
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
        drop_table(manager, SeizureFirearm::Table).await?;
        drop_table(manager, Seizure::Table).await
    }
}
