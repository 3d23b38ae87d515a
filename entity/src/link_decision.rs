//! One agency's decision on a link candidate (a seized firearm record and a traced firearm record
//! whose serials are one edit apart). Rows are only added: the latest decision of a side is in
//! force, earlier ones stay as the record of what was decided.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Agency, LinkDecisionKind, Role};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "link_decision")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub seized_firearm_id: i64,
    pub traced_firearm_id: i64,
    /// The agency that decided: ATF for the trace side, the seized record's owner for the other.
    pub side: Agency,
    pub decision: LinkDecisionKind,
    /// The token's subject.
    pub subject: String,
    pub role: Role,
    pub purpose: Option<String>,
    pub decided_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
