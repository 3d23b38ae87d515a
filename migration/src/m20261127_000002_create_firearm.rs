use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::{index, with_provenance};

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
            .create_table(
                with_provenance(
                    Table::create()
                        .table(Firearm::Table)
                        .if_not_exists()
                        .col(big_pk_auto(Firearm::Id))
                        .col(string_len(Firearm::Manufacturer, 100))
                        .col(string_len_null(Firearm::Model, 100))
                        .col(string_len(Firearm::FirearmType, 12))
                        .col(string_len_null(Firearm::Caliber, 32))
                        .col(string_len_null(Firearm::SerialNumber, 64))
                        .col(string_len_null(Firearm::SerialNormalized, 64))
                        .col(string_len_null(Firearm::CountryOfManufacture, 2))
                        .col(string_len_null(Firearm::Importer, 100)),
                )
                .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_firearm_serial_normalized",
                vec![Firearm::SerialNormalized],
            ),
            ("idx_firearm_type", vec![Firearm::FirearmType]),
            ("idx_firearm_manufacturer", vec![Firearm::Manufacturer]),
            ("idx_firearm_caliber", vec![Firearm::Caliber]),
        ] {
            manager
                .create_index(index(Firearm::Table, name, columns))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Firearm::Table).to_owned())
            .await
    }
}
