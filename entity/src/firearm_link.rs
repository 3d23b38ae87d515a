//! Two firearm records taken for the same gun (typically one agency's and another's), and why.
//! The pair is stored once, the lower id first; a link is removed with either record.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::LinkBasis;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "firearm_link")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The lower of the two firearm ids.
    pub firearm_id: i64,
    /// The higher of the two firearm ids.
    pub linked_firearm_id: i64,
    pub basis: LinkBasis,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::firearm::Entity",
        from = "Column::FirearmId",
        to = "super::firearm::Column::Id",
        on_delete = "Cascade"
    )]
    Firearm,
    #[sea_orm(
        belongs_to = "super::firearm::Entity",
        from = "Column::LinkedFirearmId",
        to = "super::firearm::Column::Id",
        on_delete = "Cascade"
    )]
    LinkedFirearm,
}

impl ActiveModelBehavior for ActiveModel {}
