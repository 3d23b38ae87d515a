//! Agencies: the four U.S. agencies that own data, and the Mexican partner agencies that request
//! traces and receive training.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "agency")]
pub struct Model {
    /// Short code, e.g. "ATF", "FGR", "FGE-SON".
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    pub name: String,
    /// ISO 3166-1 alpha-2: "US" or "MX".
    pub country: String,
    /// "US_FEDERAL", "MX_FEDERAL" or "MX_STATE".
    pub kind: String,
    /// ISO 3166-2:MX code for a Mexican state agency.
    pub mx_state: Option<String>,
    /// When the agency was granted access to eTrace, if it has been.
    pub etrace_access_since: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
