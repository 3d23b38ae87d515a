//! What every resolver gets from the request: the database, the caller under the policy, and the
//! request's DataLoader (built for this caller alone).

use async_graphql::Context;
use async_graphql::dataloader::DataLoader;
use sea_orm::DatabaseConnection;

use super::loaders::HubLoader;
use crate::policy::Access;

/// The most keys one DataLoader batch takes: above every level a request's pages can reach
/// (`store::page::MAX_PAGE_SIZE` squared).
const MAX_BATCH: usize = (crate::store::page::MAX_PAGE_SIZE as usize).pow(2);

/// How long a batch stays open after its first key.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(1);
/// How many more turns the request's task gets, after the window, before the batch closes.
const SETTLE_TURNS: usize = 16;

/// Runs a DataLoader batch once the level that asks for it has registered all its keys. Every key
/// is registered by the request's own task, which resolves a level's parents together but yields
/// to the runtime between slices of a large level (async-graphql's lists and objects are resolved
/// by `FuturesUnordered`, which yields after polling as many futures as it holds); a timer alone
/// could close the batch between two slices, splitting a large page's level in two. After the
/// window, the batch lets the request's task run its pending slices first (`yield_now` queues the
/// batch behind every task ready to run, on the server's single-threaded workers).
async fn after_the_level<F: std::future::Future>(work: F) -> F::Output {
    tokio::time::sleep(BATCH_WINDOW).await;
    for _ in 0..SETTLE_TURNS {
        tokio::task::yield_now().await;
    }
    work.await
}

/// Per-request data, inserted by the HTTP layer (or a test) before execution.
#[derive(Clone)]
pub(crate) struct RequestContext {
    pub db: DatabaseConnection,
    pub access: Access,
    pub loader: std::sync::Arc<DataLoader<HubLoader>>,
    /// The request's correlation id, for audit events of writes.
    pub correlation_id: String,
    /// The errors of the response's positions (fields withheld from the caller, and fields that
    /// failed), and the `null`s waiting to propagate; added to the response.
    pub field_errors: super::completion::FieldErrors,
    /// The process's grant cache, dropped by the grant mutations once they are done.
    pub grants: Option<std::sync::Arc<crate::store::grant_cache::GrantCache>>,
    /// The SHA-256 of the request's document, for audit events of writes.
    pub document_hash: Option<String>,
    /// The process's bus of record events, told of what the writes commit.
    pub events: Option<std::sync::Arc<crate::store::events::Events>>,
}

impl RequestContext {
    pub(crate) fn new(db: DatabaseConnection, access: Access) -> RequestContext {
        let loader = DataLoader::new(
            HubLoader::new(db.clone(), access.clone()),
            // A batch runs in a task of its own, under the request's budget, once the level
            // is complete.
            |work| tokio::spawn(crate::store::budget::inherit(after_the_level(work))),
        )
        // The wait is `after_the_level`'s, not a timer's alone.
        .delay(std::time::Duration::ZERO)
        // A level of the tree is one batch however large the page: the keys of one level are
        // at most a page of parents times a page of children each.
        .max_batch_size(MAX_BATCH);
        RequestContext {
            db,
            access,
            loader: std::sync::Arc::new(loader),
            correlation_id: String::new(),
            field_errors: Default::default(),
            grants: None,
            document_hash: None,
            events: None,
        }
    }
}

impl RequestContext {
    /// Drops the process's cached grants when the returned guard is dropped: hold it across a grant
    /// change, so the next request reads the grants again however the change ends (committed,
    /// failed, or abandoned with its request after the commit).
    pub(crate) fn grants_changing(&self) -> GrantsChanging {
        GrantsChanging(self.grants.clone())
    }
}

/// Held across a grant change; drops the process's cached grants when dropped.
pub(crate) struct GrantsChanging(Option<std::sync::Arc<crate::store::grant_cache::GrantCache>>);

impl Drop for GrantsChanging {
    fn drop(&mut self) {
        if let Some(grants) = &self.0 {
            grants.invalidate();
        }
    }
}

/// Reads the request context; its absence means the request was never authenticated.
pub(crate) fn request<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a RequestContext> {
    ctx.data::<RequestContext>().map_err(|_| {
        use async_graphql::ErrorExtensions;
        async_graphql::Error::new("authentication required")
            .extend_with(|_, e| e.set("code", super::errors::code::UNAUTHENTICATED))
    })
}

impl RequestContext {
    /// The audit event of a performance measure write by this request's caller (the store names
    /// the measure, its version and owner).
    pub(crate) fn measure_event(&self, operation: &str) -> crate::audit::NewEvent {
        crate::audit::NewEvent::of(
            &self.access,
            operation,
            crate::audit::Outcome::Ok,
            &self.correlation_id,
        )
        .with_document_hash(self.document_hash.clone())
    }

    /// The audit event of a write by this request's caller.
    pub(crate) fn write_event(
        &self,
        operation: &str,
        kind: crate::policy::EntityKind,
    ) -> crate::audit::NewEvent {
        crate::audit::NewEvent::of(
            &self.access,
            operation,
            crate::audit::Outcome::Ok,
            &self.correlation_id,
        )
        .with_document_hash(self.document_hash.clone())
        .touching(
            vec![kind.as_str().to_owned()],
            self.access.agency().into_iter().collect(),
            0,
        )
    }
}
