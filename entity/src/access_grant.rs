//! Time-boxed grants: oversight lets one role read rows of another agency's entity, optionally
//! narrowed by a row condition, for a stated reason, from a start to an end time, until revoked.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "access_grant")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub grantee_role: Role,
    /// The policy's name of the entity: "trace", "seizure", "training" or "fundingAward".
    pub entity: String,
    /// The row condition, as JSON in the form of the entity's filter input; `None` for every row.
    pub row_filter: Option<String>,
    /// The MOU, case or other reason for the grant.
    pub reason: String,
    pub starts_at: DateTimeUtc,
    pub ends_at: DateTimeUtc,
    pub granted_by: String,
    pub granted_at: DateTimeUtc,
    pub revoked_at: Option<DateTimeUtc>,
    pub revoked_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
