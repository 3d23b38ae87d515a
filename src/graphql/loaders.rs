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
    /// Each firearm record with the records the caller may follow links to, read once per
    /// request for both of its edges (`traces` and `seizures`).
    pub same_gun: tokio::sync::Mutex<HashMap<i64, Vec<i64>>>,
}

impl HubLoader {
    pub(crate) fn new(db: DatabaseConnection, access: Access) -> HubLoader {
        HubLoader {
            db,
            access,
            same_gun: Default::default(),
        }
    }

    /// The groups of `ids` (`store::links::same_gun`), read for the ids not read yet; a batch of
    /// the other edge of the same records waits for this one and reads nothing.
    async fn groups(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<i64>>, Shared> {
        let mut known = self.same_gun.lock().await;
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !known.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let read = store::links::same_gun(&self.db, &self.access, &missing)
                .await
                .map_err(Arc::new)?;
            known.extend(read);
        }
        Ok(ids
            .iter()
            .filter_map(|id| known.get(id).map(|group| (*id, group.clone())))
            .collect())
    }
}

/// The traces of a firearm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TracesOfFirearm(pub(crate) i64);

impl Loader<TracesOfFirearm> for HubLoader {
    type Value = Vec<trace::Model>;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[TracesOfFirearm],
    ) -> Result<HashMap<TracesOfFirearm, Vec<trace::Model>>, Shared> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let groups = self.groups(&ids).await?;
        let found = store::traces::by_groups(&self.db, &self.access, groups)
            .await
            .map_err(Arc::new)?;
        Ok(found
            .into_iter()
            .map(|(id, v)| (TracesOfFirearm(id), v))
            .collect())
    }
}

/// The seizures of a firearm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SeizuresOfFirearm(pub(crate) i64);

impl Loader<SeizuresOfFirearm> for HubLoader {
    type Value = Vec<seizure::Model>;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[SeizuresOfFirearm],
    ) -> Result<HashMap<SeizuresOfFirearm, Vec<seizure::Model>>, Shared> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let groups = self.groups(&ids).await?;
        let found = store::seizures::by_groups(&self.db, &self.access, groups)
            .await
            .map_err(Arc::new)?;
        Ok(found
            .into_iter()
            .map(|(id, v)| (SeizuresOfFirearm(id), v))
            .collect())
    }
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
    /// The firearms of a seizure.
    FirearmsOfSeizure => Vec<firearm::Model> = store::firearms::by_seizures;
    /// The links the caller may follow from a firearm, with the record across each.
    LinksOfFirearm => Vec<(entity::firearm_link::Model, firearm::Model)> = store::links::by_firearms;
    /// A funding award by id.
    FundingAwardById => funding_award::Model = door::by_ids::<funding_award::Entity, _>;
    /// The training events of a funding award.
    TrainingsOfAward => Vec<training_event::Model> = store::trainings::by_funding_awards;
}
