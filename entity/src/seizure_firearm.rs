//! The firearms of a seizure.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "seizure_firearm")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seizure_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub firearm_id: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::seizure::Entity",
        from = "Column::SeizureId",
        to = "super::seizure::Column::Id",
        on_delete = "Cascade"
    )]
    Seizure,
    #[sea_orm(
        belongs_to = "super::firearm::Entity",
        from = "Column::FirearmId",
        to = "super::firearm::Column::Id"
    )]
    Firearm,
}

related!(seizure => Seizure);

related!(firearm => Firearm);

impl ActiveModelBehavior for ActiveModel {}
