//! Performance measures: an agency's goal, indicator, baseline, target and time frame. The actual
//! value is computed from the data by the metric the measure names.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Agency;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "performance_measure")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Short unique code, e.g. "ATF-ETRACE-STATES".
    #[sea_orm(unique)]
    pub code: String,
    pub goal: String,
    pub indicator: String,
    /// Name of the computation that yields the actual value from the data (a metric of the hub's
    /// catalogue).
    pub metric: String,
    pub baseline: i64,
    pub target: i64,
    pub period_start: Date,
    pub period_end: Date,
    pub owner_agency: Agency,
    pub source_system: String,
    pub ingested_at: DateTimeUtc,
    pub version: i32,
    /// The metric's parameters as a JSON object of parameter names to values, e.g.
    /// `{"provider":"ATF"}`; `{}` for none.
    pub parameters: String,
    /// When the measure was retired; retired measures keep their history but are no longer
    /// listed by default.
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
