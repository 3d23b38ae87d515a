//! Training events given to Mexican agencies by ATF or State.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Agency, CourseKind};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "training_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The provider's reference for the event, e.g. "ATF-MX-FY22-ETRACE-01"; unique.
    #[sea_orm(unique)]
    pub reference: String,
    pub course: CourseKind,
    pub provider: Agency,
    pub start_date: Date,
    pub end_date: Date,
    /// U.S. federal fiscal year (starting October 1) of `start_date`.
    pub fiscal_year: i32,
    /// Code of the Mexican agency trained.
    pub mexican_agency: String,
    /// ISO 3166-2:MX; `None` for federal agencies.
    pub mexican_state: Option<String>,
    pub participants: i32,
    pub etrace_accounts_granted: i32,
    pub funding_award_id: Option<i64>,
    pub owner_agency: Agency,
    pub source_system: String,
    pub ingested_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::funding_award::Entity",
        from = "Column::FundingAwardId",
        to = "super::funding_award::Column::Id"
    )]
    FundingAward,
}

related!(funding_award => FundingAward);

impl ActiveModelBehavior for ActiveModel {}
