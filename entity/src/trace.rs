//! Traces of firearms recovered in Mexico, owned by ATF.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Agency, SourceClass, TraceStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "trace")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub trace_number: String,
    pub firearm_id: i64,
    /// Code of the Mexican agency that asked for the trace, e.g. "FGR".
    pub requesting_agency: String,
    pub recovery_date: Date,
    /// Calendar year of `recovery_date`, kept so grouping by year is the same SQL on every backend.
    pub recovery_year: i32,
    /// ISO 3166-2:MX, e.g. "MX-SON".
    pub recovery_state: String,
    pub recovery_municipality: Option<String>,
    pub status: TraceStatus,
    pub source_class: SourceClass,
    /// USPS code of the state of the first retail sale.
    pub purchase_state: Option<String>,
    pub purchase_date: Option<Date>,
    pub time_to_crime_days: Option<i32>,
    /// Restricted.
    pub dealer_license: Option<String>,
    /// Personal data.
    pub purchaser_name: Option<String>,
    pub owner_agency: Agency,
    pub source_system: String,
    pub ingested_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::firearm::Entity",
        from = "Column::FirearmId",
        to = "super::firearm::Column::Id"
    )]
    Firearm,
}

related!(firearm => Firearm);

impl ActiveModelBehavior for ActiveModel {}
