//! A document registered as an automatic persisted query, by the SHA-256 of its text; shared by
//! every hub process on the database and bounded by `limits.persisted_max` (least recently used
//! rows are evicted).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "persisted_query")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Lower-case hex SHA-256 of `document`; unique.
    pub hash: String,
    pub document: String,
    pub created_at: DateTimeUtc,
    /// When a request last used it (kept at a coarse resolution: see the store).
    pub last_used_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
