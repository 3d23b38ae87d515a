use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::common::drop_table;

#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Agency {
    Table,
    Code,
    Name,
    Country,
    Kind,
    MxState,
    EtraceAccessSince,
}

/// The 32 Mexican states (ISO 3166-2:MX) with their names; each has a state prosecutor's office.
const MX_STATES: [(&str, &str); 32] = [
    ("AGU", "Aguascalientes"),
    ("BCN", "Baja California"),
    ("BCS", "Baja California Sur"),
    ("CAM", "Campeche"),
    ("CHP", "Chiapas"),
    ("CHH", "Chihuahua"),
    ("CMX", "Ciudad de México"),
    ("COA", "Coahuila"),
    ("COL", "Colima"),
    ("DUR", "Durango"),
    ("GUA", "Guanajuato"),
    ("GRO", "Guerrero"),
    ("HID", "Hidalgo"),
    ("JAL", "Jalisco"),
    ("MEX", "Estado de México"),
    ("MIC", "Michoacán"),
    ("MOR", "Morelos"),
    ("NAY", "Nayarit"),
    ("NLE", "Nuevo León"),
    ("OAX", "Oaxaca"),
    ("PUE", "Puebla"),
    ("QUE", "Querétaro"),
    ("ROO", "Quintana Roo"),
    ("SLP", "San Luis Potosí"),
    ("SIN", "Sinaloa"),
    ("SON", "Sonora"),
    ("TAB", "Tabasco"),
    ("TAM", "Tamaulipas"),
    ("TLA", "Tlaxcala"),
    ("VER", "Veracruz"),
    ("YUC", "Yucatán"),
    ("ZAC", "Zacatecas"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Agency::Table)
                    .if_not_exists()
                    .col(string_len(Agency::Code, 16).primary_key())
                    .col(string_len(Agency::Name, 200))
                    .col(string_len(Agency::Country, 2))
                    .col(string_len(Agency::Kind, 16))
                    .col(string_len_null(Agency::MxState, 6))
                    .col(date_null(Agency::EtraceAccessSince))
                    .to_owned(),
            )
            .await?;

        // Reference data every deployment needs: the owning U.S. agencies and the Mexican agencies
        // that request traces and receive training.
        let mut insert = Query::insert();
        insert.into_table(Agency::Table).columns([
            Agency::Code,
            Agency::Name,
            Agency::Country,
            Agency::Kind,
            Agency::MxState,
        ]);
        let us = [
            ("ATF", "Bureau of Alcohol, Tobacco, Firearms and Explosives"),
            ("ICE", "U.S. Immigration and Customs Enforcement (HSI)"),
            ("CBP", "U.S. Customs and Border Protection"),
            ("STATE", "U.S. Department of State"),
        ];
        for (code, name) in us {
            insert.values_panic([
                code.into(),
                name.into(),
                "US".into(),
                "US_FEDERAL".into(),
                Option::<String>::None.into(),
            ]);
        }
        let mx_federal = [
            ("FGR", "Fiscalía General de la República"),
            ("SEDENA", "Secretaría de la Defensa Nacional"),
            ("GN", "Guardia Nacional"),
            ("ANAM", "Agencia Nacional de Aduanas de México"),
        ];
        for (code, name) in mx_federal {
            insert.values_panic([
                code.into(),
                name.into(),
                "MX".into(),
                "MX_FEDERAL".into(),
                Option::<String>::None.into(),
            ]);
        }
        for (state, name) in MX_STATES {
            insert.values_panic([
                format!("FGE-{state}").into(),
                format!("Fiscalía General del Estado de {name}").into(),
                "MX".into(),
                "MX_STATE".into(),
                Some(format!("MX-{state}")).into(),
            ]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_table(manager, Agency::Table).await
    }
}
