//! Batched loading for the nested edges. The loader is built per request for one caller, and every
//! batch goes through the store's door with that caller's access.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{firearm, funding_award, seizure, trace, training_event};
use sea_orm::DatabaseConnection;

use crate::error::Error;
use crate::policy::Access;
use crate::store::{self, door};

pub(crate) struct HubLoader {
    pub db: DatabaseConnection,
    pub access: Access,
}

type Shared = Arc<Error>;

/// One key type per edge, and its batch: the ids of a batch's keys go to one store call.
macro_rules! edges {
    ($($(#[$doc:meta])* $key:ident => $value:ty = $batch:path;)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub(crate) struct $key(pub(crate) i64);

            impl Loader<$key> for HubLoader {
                type Value = $value;
                type Error = Shared;

                async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Shared> {
                    let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                    let found = $batch(&self.db, &self.access, &ids)
                        .await
                        .map_err(Arc::new)?;
                    Ok(found.into_iter().map(|(id, v)| ($key(id), v)).collect())
                }
            }
        )*
    };
}

edges! {
    /// A firearm by id.
    FirearmById => firearm::Model = door::by_ids::<firearm::Entity, _>;
    /// The traces of a firearm.
    TracesOfFirearm => Vec<trace::Model> = store::traces::by_firearms;
    /// The seizures of a firearm.
    SeizuresOfFirearm => Vec<seizure::Model> = store::seizures::by_firearms;
    /// The firearms of a seizure.
    FirearmsOfSeizure => Vec<firearm::Model> = store::firearms::by_seizures;
    /// The links the caller may follow from a firearm, with the record across each.
    LinksOfFirearm => Vec<(entity::firearm_link::Model, firearm::Model)> = store::links::by_firearms;
    /// A funding award by id.
    FundingAwardById => funding_award::Model = door::by_ids::<funding_award::Entity, _>;
    /// The training events of a funding award.
    TrainingsOfAward => Vec<training_event::Model> = store::trainings::by_funding_awards;
}
