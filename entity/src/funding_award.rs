//! Funding awards made by State. Amounts are integer cents, never floats.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Agency, FundingCategory};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "funding_award")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// State's award identifier; unique.
    #[sea_orm(unique)]
    pub award_number: String,
    pub fiscal_year: i32,
    pub program: String,
    pub category: FundingCategory,
    pub implementing_agency: Option<Agency>,
    pub recipient: String,
    pub obligated_cents: i64,
    pub disbursed_cents: i64,
    pub description: Option<String>,
    pub owner_agency: Agency,
    pub source_system: String,
    pub ingested_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::training_event::Entity")]
    TrainingEvent,
}

related!(training_event => TrainingEvent);

impl ActiveModelBehavior for ActiveModel {}
