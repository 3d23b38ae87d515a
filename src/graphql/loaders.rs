//! Batched loading for the nested edges. The loader is built per request for one caller, and every
//! batch goes through the store's door with that caller's access.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::{firearm, funding_award, seizure, trace, training_event};
use sea_orm::DatabaseConnection;

use crate::error::Error;
use crate::policy::Access;
use crate::store;

pub struct HubLoader {
    pub db: DatabaseConnection,
    pub access: Access,
}

/// A firearm by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirearmById(pub i64);
/// The traces of a firearm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TracesOfFirearm(pub i64);
/// The seizures of a firearm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeizuresOfFirearm(pub i64);
/// The firearms of a seizure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirearmsOfSeizure(pub i64);
/// A funding award by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FundingAwardById(pub i64);
/// The training events of a funding award.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrainingsOfAward(pub i64);

type Shared = Arc<Error>;

fn rekey<K: std::hash::Hash + Eq, V>(
    map: HashMap<i64, V>,
    key: impl Fn(i64) -> K,
) -> HashMap<K, V> {
    map.into_iter().map(|(k, v)| (key(k), v)).collect()
}

impl Loader<FirearmById> for HubLoader {
    type Value = firearm::Model;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[FirearmById],
    ) -> Result<HashMap<FirearmById, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = store::firearms::by_ids(&self.db, &self.access, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(rekey(found, FirearmById))
    }
}

impl Loader<TracesOfFirearm> for HubLoader {
    type Value = Vec<trace::Model>;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[TracesOfFirearm],
    ) -> Result<HashMap<TracesOfFirearm, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = store::traces::by_firearms(&self.db, &self.access, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(rekey(found, TracesOfFirearm))
    }
}

impl Loader<SeizuresOfFirearm> for HubLoader {
    type Value = Vec<seizure::Model>;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[SeizuresOfFirearm],
    ) -> Result<HashMap<SeizuresOfFirearm, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = store::seizures::by_firearms(&self.db, &self.access, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(rekey(found, SeizuresOfFirearm))
    }
}

impl Loader<FirearmsOfSeizure> for HubLoader {
    type Value = Vec<firearm::Model>;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[FirearmsOfSeizure],
    ) -> Result<HashMap<FirearmsOfSeizure, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = store::firearms::by_seizures(&self.db, &self.access, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(rekey(found, FirearmsOfSeizure))
    }
}

impl Loader<FundingAwardById> for HubLoader {
    type Value = funding_award::Model;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[FundingAwardById],
    ) -> Result<HashMap<FundingAwardById, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = store::funding::by_ids(&self.db, &self.access, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(rekey(found, FundingAwardById))
    }
}

impl Loader<TrainingsOfAward> for HubLoader {
    type Value = Vec<training_event::Model>;
    type Error = Shared;

    async fn load(
        &self,
        keys: &[TrainingsOfAward],
    ) -> Result<HashMap<TrainingsOfAward, Self::Value>, Self::Error> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let found = store::trainings::by_funding_awards(&self.db, &self.access, &ids)
            .await
            .map_err(Arc::new)?;
        Ok(rekey(found, TrainingsOfAward))
    }
}
