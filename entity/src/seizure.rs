//! Seizures of firearms by CBP or ICE.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Agency, Direction, Disposition};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "seizure")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Restricted.
    #[sea_orm(unique)]
    pub case_number: String,
    pub seizing_agency: Agency,
    pub operation: Option<String>,
    pub seized_on: Date,
    /// U.S. federal fiscal year (starting October 1) of `seized_on`.
    pub fiscal_year: i32,
    /// USPS code.
    pub us_state: String,
    pub port_of_entry: Option<String>,
    pub direction: Direction,
    pub concealment_method: Option<String>,
    pub ammunition_rounds: i64,
    /// Number of linked firearms, kept in step with `seizure_firearm`.
    pub firearm_count: i32,
    /// What became of the seized firearms; `None` until recorded.
    pub disposition: Option<Disposition>,
    pub owner_agency: Agency,
    pub source_system: String,
    pub ingested_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::seizure_firearm::Entity")]
    SeizureFirearm,
}

related!(firearm through seizure_firearm: Seizure -> Firearm);

impl ActiveModelBehavior for ActiveModel {}
