use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{create_indexes, drop_table, owned_table};

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
#[expect(
    clippy::enum_variant_names,
    reason = "variants are the table's column names"
)]
pub(crate) enum Firearm {
    Table,
    Id,
    Manufacturer,
    Model,
    FirearmType,
    Caliber,
    SerialNumber,
    SerialNormalized,
    CountryOfManufacture,
    Importer,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(owned_table(
                Firearm::Table,
                Firearm::Id,
                [
                    string_len(Firearm::Manufacturer, 100),
                    string_len_null(Firearm::Model, 100),
                    string_len(Firearm::FirearmType, 12),
                    string_len_null(Firearm::Caliber, 32),
                    string_len_null(Firearm::SerialNumber, 64),
                    string_len_null(Firearm::SerialNormalized, 64),
                    string_len_null(Firearm::CountryOfManufacture, 2),
                    string_len_null(Firearm::Importer, 100),
                ],
            ))
            .await?;
        create_indexes(
            manager,
            Firearm::Table,
            [
                (
                    "idx_firearm_serial_normalized",
                    vec![Firearm::SerialNormalized],
                ),
                ("idx_firearm_type", vec![Firearm::FirearmType]),
                ("idx_firearm_manufacturer", vec![Firearm::Manufacturer]),
                ("idx_firearm_caliber", vec![Firearm::Caliber]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Firearm::Table).await
    }
}
