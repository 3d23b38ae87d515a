//! The audit trail: one append-only row for every operation, allowed, denied or failed.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: DateTimeUtc,
    pub subject: String,
    pub role: Role,
    pub purpose: Option<String>,
    /// Operation name, or a hash of the document when unnamed.
    pub operation: String,
    /// Entities touched, comma-separated, e.g. "trace,firearm".
    pub entities: String,
    /// Owning agencies whose data was touched, comma-separated.
    pub data_owners: String,
    pub rows_returned: i64,
    /// "ok", "denied" or "error".
    pub outcome: String,
    pub correlation_id: String,
    /// Lower-case hex SHA-256 of the GraphQL document the operation ran, when it ran one.
    pub document_hash: Option<String>,
    /// Hash of the previous event ("" for the first).
    pub prev_hash: String,
    /// Hash over this event's fields and `prev_hash`.
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
