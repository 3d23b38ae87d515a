//! A request's time budget, at the pool: the statements a request runs stop when the request
//! stops, because its time is up or because it was dropped (the client went away), and their
//! connections go back to the pool at once instead of finishing work nobody will read.
//!
//! The server runs each request [`within`] a [`Budget`]. Every connection the request checks out
//! of the pool is armed for it on checkout (sqlx's `before_acquire`, or `after_connect` for a new
//! connection), in the request's own task, where the budget is visible:
//! - SQLite: a progress handler, called every [`SQLITE_STEPS`] virtual-machine steps, interrupts
//!   the running statement (`SQLITE_INTERRUPT`) once the budget is spent or stopped;
//! - PostgreSQL: `statement_timeout` is set to the time left (never more than
//!   `database.statement_timeout_ms`), so the server cancels a statement at the request's
//!   deadline; when the request stops (its own timer fired, or it was dropped), the backends of the
//!   connections it checked out are ended with `pg_terminate_backend`. A plain cancel is not
//!   enough: sqlx closes a connection whose statement was cancelled under it anyway (its release
//!   reads the error), and over TLS its release of a connection whose read was dropped mid-way was
//!   seen to hang, holding the pool slot; a terminated backend closes the socket, which always
//!   ends the release, and the pool opens a fresh connection when it needs one.
//!
//! A connection checked out outside any request (audit events recorded in the background, the
//! command line) is armed with no budget: SQLite runs without a handler, PostgreSQL with
//! `database.statement_timeout_ms`. The DataLoader's batches run in tasks of their own; they
//! carry the request's budget along ([`inherit`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::sqlx;

/// How many SQLite virtual-machine steps run between two looks at the budget.
pub(crate) const SQLITE_STEPS: i32 = 10_000;

/// How long a stopped request's PostgreSQL backends run on before they are ended: the pool's
/// release of the dropped connections has begun by then.
const RELEASE_PAUSE: Duration = Duration::from_millis(100);

/// How long after a request's deadline the database stops its statements by itself.
pub const GRACE: Duration = Duration::from_millis(250);

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long one request may still make the database work, and whether it has stopped.
#[derive(Debug)]
pub struct Budget {
    id: u64,
    deadline: Option<Instant>,
    stopped: AtomicBool,
    /// PostgreSQL backends this request's connections run on.
    backends: Mutex<Vec<i32>>,
    /// The PostgreSQL pools the request reads from (the primary's, and a read replica's), which
    /// cancels go through.
    pools: Vec<sqlx::PgPool>,
}

tokio::task_local! {
    static CURRENT: Arc<Budget>;
}

impl Budget {
    /// A budget of `limit` from now (`None`: no deadline, only stopping). The database is told a
    /// [`GRACE`] later: a request timing out is stopped by its own timer first (and answered
    /// `TIMEOUT`), which cancels its statements at once; the deadline is the backstop.
    pub fn new(db: &sea_orm::DatabaseConnection, limit: Option<Duration>) -> Arc<Budget> {
        Budget::over(&[db], limit)
    }

    /// A budget for a request whose connections come from any of `dbs` (the primary and a read
    /// replica): a stopped request's backends are ended on each.
    pub fn over(dbs: &[&sea_orm::DatabaseConnection], limit: Option<Duration>) -> Arc<Budget> {
        let pools = dbs
            .iter()
            .filter(|db| db.get_database_backend() == sea_orm::DbBackend::Postgres)
            .map(|db| db.get_postgres_connection_pool().clone())
            .collect();
        Budget::with_pools(pools, limit)
    }

    fn with_pools(pools: Vec<sqlx::PgPool>, limit: Option<Duration>) -> Arc<Budget> {
        Arc::new(Budget {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            deadline: limit
                .and_then(|l| l.checked_add(GRACE))
                .and_then(|t| Instant::now().checked_add(t)),
            stopped: AtomicBool::new(false),
            backends: Mutex::new(Vec::new()),
            pools,
        })
    }

    /// Whether the request's statements must stop now.
    pub fn spent(&self) -> bool {
        self.stopped.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The time left, if there is a deadline.
    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// A guard that stops the budget when dropped, unless [`StopOnDrop::finish`] was called first:
    /// a request future dropped half-way (timed out, or its client went away) stops its work.
    pub fn stop_on_drop(self: &Arc<Self>) -> StopOnDrop {
        StopOnDrop {
            budget: self.clone(),
            finished: false,
        }
    }

    /// Stops the request's statements: SQLite's progress handler interrupts them at its next look;
    /// the PostgreSQL backends this request checked out are ended.
    fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let backends = std::mem::take(&mut *lock(&self.backends));
        if backends.is_empty() {
            return;
        }
        if self.pools.is_empty() {
            return;
        }
        // A process id names a backend of one server only; each pool's server is asked to end
        // those of its own backends that carry this request's name.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(cancel_backends(self.pools.clone(), self.id, backends));
        }
    }
}

/// Stops a [`Budget`] when dropped before the work finished.
#[derive(Debug)]
pub struct StopOnDrop {
    budget: Arc<Budget>,
    finished: bool,
}

impl StopOnDrop {
    /// The request finished: nothing is left running to stop.
    pub fn finish(mut self) {
        self.finished = true;
        self.budget.stopped.store(true, Ordering::Relaxed);
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.budget.stop();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `work` with `budget` as the budget of every connection it checks out.
pub async fn within<F: Future>(budget: Arc<Budget>, work: F) -> F::Output {
    CURRENT.scope(budget, work).await
}

/// The budget of the running task, if it works for a request.
pub fn current() -> Option<Arc<Budget>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// `work` carrying the current task's budget (if any) into the task it will be spawned on.
pub(crate) fn inherit<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let budget = current();
    async move {
        match budget {
            Some(budget) => CURRENT.scope(budget, work).await,
            None => work.await,
        }
    }
}

/// Arms a SQLite connection for the current budget: a progress handler interrupting its
/// statements once the budget is spent, or none outside a request.
pub(crate) async fn arm_sqlite(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let budget = current();
    let mut handle = conn.lock_handle().await?;
    match budget {
        Some(budget) => handle.set_progress_handler(SQLITE_STEPS, move || !budget.spent()),
        None => handle.remove_progress_handler(),
    }
    Ok(())
}

/// Which request each PostgreSQL backend (by process id) was last checked out for; a cancel only
/// reaches a backend still checked out for the request that stopped.
static PG_OWNERS: Mutex<Option<HashMap<i32, u64>>> = Mutex::new(None);
/// Held while a backend is being armed or cancelled, so a cancel never reaches a backend that was
/// meanwhile checked out for another request.
static PG_CANCELLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// The `statement_timeout` in milliseconds for a connection checked out under `budget`: the time
/// left (at least 1 ms), bounded by the configured timeout (`0`: none).
fn statement_timeout_ms(budget: Option<&Budget>, configured_ms: u64) -> u64 {
    let left = budget.and_then(Budget::left).map(|left| {
        let ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        if budget.is_some_and(|b| b.stopped.load(Ordering::Relaxed)) {
            1
        } else {
            ms.max(1)
        }
    });
    match (left, configured_ms) {
        (Some(left), 0) => left,
        (Some(left), configured) => left.min(configured),
        (None, configured) => configured,
    }
}

/// Arms a PostgreSQL connection for the current budget: its `statement_timeout` is the time the
/// request has left, and the backend is recorded as working for it.
pub(crate) async fn arm_postgres(
    conn: &mut sqlx::PgConnection,
    configured_ms: u64,
) -> Result<(), sqlx::Error> {
    let budget = current();
    let timeout = statement_timeout_ms(budget.as_deref(), configured_ms);
    // The backend is named for the request it works for: ending backends checks that name on the
    // server, so a backend re-armed for another request meanwhile, or a process id the server has
    // since given to another session, is never ended.
    let (pid,): (i32,) = sqlx::query_as(
        "SELECT pg_backend_pid() AS pid FROM (SELECT set_config('statement_timeout', $1, false), \
         set_config('application_name', $2, false)) AS s",
    )
    .bind(timeout.to_string())
    .bind(backend_name(budget.as_deref().map(|b| b.id)))
    .fetch_one(&mut *conn)
    .await?;
    let _arming = PG_CANCELLING.lock().await;
    let mut owners = lock(&PG_OWNERS);
    let owners = owners.get_or_insert_with(HashMap::new);
    match budget {
        Some(budget) => {
            owners.insert(pid, budget.id);
            lock(&budget.backends).push(pid);
        }
        None => {
            owners.remove(&pid);
        }
    }
    Ok(())
}

/// The `application_name` of a backend armed for request `id` (or for no request).
fn backend_name(id: Option<u64>) -> String {
    match id {
        Some(id) => format!("firearms-hub request {id}"),
        None => "firearms-hub".to_owned(),
    }
}

/// Ends the backends last checked out for request `id`, on the server of each pool.
async fn cancel_backends(pools: Vec<sqlx::PgPool>, id: u64, backends: Vec<i32>) {
    let [pool] = &pools[..] else {
        // Two servers: a backend's process id may have been given to a backend of the other
        // server since, so the shared record of owners is not consulted; the server's name check
        // alone picks this request's backends on each.
        tokio::time::sleep(RELEASE_PAUSE).await;
        for pool in pools {
            end_named_backends(pool, id, backends.clone()).await;
        }
        return;
    };
    let pool = pool.clone();
    // Let the pool's release of the dropped statements' connections begin first.
    tokio::time::sleep(RELEASE_PAUSE).await;
    // An idle pooled connection if there is one (opening a connection costs a handshake), taken
    // before the lock, since arming a connection takes it too.
    let mut pooled = pool.try_acquire();
    let _ending = PG_CANCELLING.lock().await;
    let still_ours: Vec<i32> = {
        let mut owners = lock(&PG_OWNERS);
        let owners = owners.get_or_insert_with(HashMap::new);
        backends
            .into_iter()
            .filter(|pid| match owners.get(pid) {
                Some(owner) if *owner == id => {
                    owners.remove(pid);
                    true
                }
                _ => false,
            })
            .collect()
    };
    if still_ours.is_empty() {
        return;
    }
    end_on(&pool, pooled.as_mut(), id, still_ours).await;
}

/// Ends, on `pool`'s server, those of `backends` that still carry request `id`'s name.
async fn end_named_backends(pool: sqlx::PgPool, id: u64, backends: Vec<i32>) {
    let mut pooled = pool.try_acquire();
    let _ending = PG_CANCELLING.lock().await;
    end_on(&pool, pooled.as_mut(), id, backends).await;
}

async fn end_on(
    pool: &sqlx::PgPool,
    pooled: Option<&mut sqlx::pool::PoolConnection<sqlx::Postgres>>,
    id: u64,
    still_ours: Vec<i32>,
) {
    // Never the connection sending this, which may have worked for the request too. A connection
    // the request had already given back is ended too; the pool replaces it.
    let end = || {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid = ANY($1::int4[]) AND application_name = $2 AND pid <> pg_backend_pid()",
        )
        .bind(still_ours.clone())
        .bind(backend_name(Some(id)))
    };
    if let Some(conn) = pooled
        && end().execute(&mut **conn).await.is_ok()
    {
        return;
    }
    // No idle connection, or a dead one: a connection of its own (the pool may be exhausted by
    // the very statements to end).
    use sqlx::Connection;
    match sqlx::PgConnection::connect_with(&pool.connect_options()).await {
        Ok(mut conn) => {
            if let Err(error) = end().execute(&mut conn).await {
                tracing::warn!(%error, "cannot end the backends of a stopped request");
            }
            let _ = conn.close().await;
        }
        // The request's statement_timeout still ends its statements at its deadline.
        Err(error) => {
            tracing::warn!(%error, "cannot connect to end the backends of a stopped request");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timeout_is_the_time_left_within_the_configured_one() {
        assert_eq!(statement_timeout_ms(None, 0), 0);
        assert_eq!(statement_timeout_ms(None, 30_000), 30_000);
        let budget = Budget::with_pools(Vec::new(), Some(Duration::from_secs(2)));
        let ms = statement_timeout_ms(Some(&budget), 0);
        let most = u64::try_from((Duration::from_secs(2) + GRACE).as_millis()).unwrap();
        assert!((most - 100..=most).contains(&ms), "{ms}");
        assert_eq!(statement_timeout_ms(Some(&budget), 500), 500);
        let spent = Budget::with_pools(Vec::new(), Some(Duration::ZERO));
        assert!(!spent.spent(), "within its grace");
        spent.stop();
        assert!(spent.spent());
        assert_eq!(statement_timeout_ms(Some(&spent), 30_000), 1);
    }

    #[tokio::test]
    async fn a_dropped_request_stops_its_budget_and_a_finished_one_stops_nothing_running() {
        let budget = Budget::with_pools(Vec::new(), None);
        assert!(!budget.spent());
        let guard = budget.stop_on_drop();
        let seen = within(budget.clone(), async { current().map(|b| b.id) }).await;
        assert_eq!(seen, Some(budget.id));
        let inherited = within(budget.clone(), async {
            tokio::spawn(inherit(async { current().map(|b| b.id) }))
                .await
                .expect("spawned")
        })
        .await;
        assert_eq!(inherited, Some(budget.id));
        assert_eq!(current().map(|b| b.id), None);
        drop(guard);
        assert!(budget.spent());
    }
}
