//! The demo's record of the seized firearms it had traced again under a near-identical serial:
//! the truth the linkage tests and the benchmark score candidates against. Nothing in the API
//! reads it.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "demo_near_serial")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seized_firearm_id: i64,
    pub traced_firearm_id: i64,
    /// `CONFUSABLE_SUBSTITUTION`, `SUBSTITUTION`, `TRANSPOSITION`, `DELETION` or `INSERTION`
    /// (of the seized record's serial relative to the traced one).
    pub edit: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
