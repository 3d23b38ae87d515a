//! A superseded version of a performance measure: the measure as it was before a change (an update
//! or its retirement), with when and by whom it was superseded.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Agency;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "performance_measure_version")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub measure_id: i64,
    pub code: String,
    pub goal: String,
    pub indicator: String,
    pub metric: String,
    pub parameters: String,
    pub baseline: i64,
    pub target: i64,
    pub period_start: Date,
    pub period_end: Date,
    pub owner_agency: Agency,
    pub version: i32,
    pub retired_at: Option<DateTimeUtc>,
    pub superseded_at: DateTimeUtc,
    /// The token subject of the change that superseded this version.
    pub superseded_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
