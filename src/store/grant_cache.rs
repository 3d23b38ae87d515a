//! The grants of every role that have not ended, held in memory under the `grants` generation they
//! were read at, so a request decides which grants are in force without reading the database.
//! Whether a held grant is in force is decided per request by the clock, so a grant starts and ends
//! at its own times with no read at all.
//!
//! The cache is dropped, and read again by the next request that needs it:
//! - at once in the process that made or revoked a grant ([`GrantCache::invalidate`]);
//! - on PostgreSQL, when a bump of the `grants` generation is notified on
//!   [`generation::CHANNEL`] ([`listen`], over one connection of its own made with the server
//!   pool's options); and whenever the listening connection is lost, since notifications sent
//!   meanwhile are gone;
//! - on both backends, when a poll of the generations every `cache.generation_poll_ms` finds the
//!   `grants` generation moved, or cannot read it ([`poll`]). This is the bound on staleness
//!   across processes: a change made by another process takes effect here at most one poll
//!   interval (plus one poll's read) after it commits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::Role;
use entity::access_grant as grant;
use sea_orm::{ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder};

use super::generation::{self, Scope};
use crate::error::Result;
use crate::policy::Grant;

/// A grant held in the cache, with what decides whether it is in force.
struct Held {
    role: Role,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    grant: Grant,
}

/// What the cache holds: the grants not ended when read, and the generation they were read at.
struct Loaded {
    generation: i64,
    grants: Arc<Vec<Held>>,
}

/// The per-process cache of grants (one per server and database).
#[derive(Default)]
pub(crate) struct GrantCache {
    loaded: RwLock<Option<Loaded>>,
    /// Moves on every invalidation, so a read that raced with one is not kept.
    epoch: AtomicU64,
    /// One read at a time refills the cache; requests arriving meanwhile wait for it.
    refill: tokio::sync::Mutex<()>,
}

impl GrantCache {
    pub(crate) fn new() -> Arc<GrantCache> {
        Arc::new(GrantCache::default())
    }

    /// Drops what the cache holds: the next request reads the grants again.
    pub(crate) fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let dropped = self
            .loaded
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .is_some();
        if dropped {
            crate::telemetry::grant_cache_invalidated();
        }
    }

    /// The generation the held grants were read at; `None` when nothing is held.
    pub(crate) fn generation(&self) -> Option<i64> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|l| l.generation)
    }

    fn held(&self) -> Option<Arc<Vec<Held>>> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|l| l.grants.clone())
    }

    /// The grants in force for `role` at `now`, from the cache, reading them first if it holds
    /// nothing.
    pub(crate) async fn in_force_for(
        &self,
        db: &DatabaseConnection,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<Vec<Grant>> {
        let held = match self.held() {
            Some(held) => held,
            None => self.fill(db).await?,
        };
        Ok(in_force(&held, role, now))
    }

    async fn fill(&self, db: &DatabaseConnection) -> Result<Arc<Vec<Held>>> {
        let _refill = self.refill.lock().await;
        if let Some(held) = self.held() {
            return Ok(held);
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        // The generation first: the grants read after it are at least as new as it says.
        let generation = generation::current(db).await?.of(Scope::Grants);
        let grants = Arc::new(read_not_ended(db, Utc::now()).await?);
        crate::telemetry::grant_cache_filled();
        let mut loaded = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::SeqCst) == epoch {
            *loaded = Some(Loaded {
                generation,
                grants: grants.clone(),
            });
        }
        Ok(grants)
    }
}

fn in_force(held: &[Held], role: Role, now: DateTime<Utc>) -> Vec<Grant> {
    held.iter()
        .filter(|h| h.role == role && h.starts_at <= now && now < h.ends_at)
        .map(|h| h.grant.clone())
        .collect()
}

/// Every grant not revoked and not ended at `now`, in id order, each row filter compiled once.
/// A stored grant whose filter no longer compiles opens nothing (`grants::compile_stored` says why).
async fn read_not_ended(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Vec<Held>> {
    let rows = grant::Entity::find()
        .filter(grant::Column::RevokedAt.is_null())
        .filter(grant::Column::EndsAt.gt(now))
        .order_by_asc(grant::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|g| match super::grants::compile_stored(&g) {
            Ok(compiled) => Some(Held {
                role: g.grantee_role,
                starts_at: g.starts_at,
                ends_at: g.ends_at,
                grant: compiled,
            }),
            Err(error) => {
                tracing::warn!(grant = g.id, error = %error, "a stored grant no longer compiles and opens nothing");
                None
            }
        })
        .collect())
}

/// Polls the generations every `every` and drops the cache when the `grants` generation is not
/// the one it holds, or cannot be read. Runs until its task is aborted.
pub(crate) async fn poll(cache: Arc<GrantCache>, db: DatabaseConnection, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(held) = cache.generation() else {
            continue;
        };
        match generation::current(&db).await {
            Ok(now) if now.of(Scope::Grants) == held => {}
            Ok(_) => cache.invalidate(),
            Err(error) => {
                tracing::warn!(%error, "cannot read the data generations; dropping the grant cache");
                cache.invalidate();
            }
        }
    }
}

/// On PostgreSQL, listens on [`generation::CHANNEL`] and drops the cache when the `grants`
/// generation is bumped; after a lost connection it drops the cache (notifications sent meanwhile
/// are lost) and listens again. Returns at once on SQLite; runs until its task is aborted.
pub(crate) async fn listen(cache: Arc<GrantCache>, db: DatabaseConnection) {
    use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    // The listener holds its connection for good: it gets a pool of one of its own, connected as
    // the server's pool connects, so the requests' pool (its size, its in-use gauge and the
    // request budget armed on its checkouts) is not touched.
    let options = db.get_postgres_connection_pool().connect_options();
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with((*options).clone());
    let mut first = true;
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for generation bumps; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen(generation::CHANNEL).await {
            tracing::warn!(%error, "cannot listen for generation bumps; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Whatever changed while the listener was away was not heard. (Before the first
        // listener, the poll is what bounds a missed change.)
        if !first {
            cache.invalidate();
        }
        first = false;
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if Scope::parse(notification.payload()) == Some(Scope::Grants) {
                        cache.invalidate();
                    }
                }
                // The connection was lost (and is re-established on the next receive).
                Ok(None) => cache.invalidate(),
                Err(error) => {
                    tracing::warn!(%error, "lost the generation listener; listening again");
                    cache.invalidate();
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::EntityKind;

    fn held(id: i64, role: Role, starts: i64, ends: i64) -> Held {
        let at = |s| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        Held {
            role,
            starts_at: at(starts),
            ends_at: at(ends),
            grant: Grant {
                id,
                entity: EntityKind::Trace,
                rows: None,
            },
        }
    }

    #[test]
    fn a_held_grant_is_in_force_from_its_start_until_its_end_for_its_role_only() {
        let grants = vec![held(1, Role::Ice, 100, 200), held(2, Role::Cbp, 0, 1000)];
        let at = |s| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        let ids = |role, s| -> Vec<i64> {
            in_force(&grants, role, at(s))
                .iter()
                .map(|g| g.id)
                .collect()
        };
        assert!(ids(Role::Ice, 99).is_empty(), "before its start");
        assert_eq!(ids(Role::Ice, 100), vec![1], "from its start");
        assert_eq!(ids(Role::Ice, 199), vec![1]);
        assert!(ids(Role::Ice, 200).is_empty(), "at its end");
        assert_eq!(ids(Role::Cbp, 150), vec![2], "another role's grant");
        assert!(ids(Role::Atf, 150).is_empty(), "a role with no grant");
    }
}
