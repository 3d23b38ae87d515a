//! Logging and metrics.
//!
//! Logging goes to standard error, as text or JSON. SQL statements are never logged at info
//! level: their parameters can hold personal data.
//!
//! Metrics, in the Prometheus (OpenMetrics) text format served on `GET /metrics`:
//!
//! - `hub_graphql_requests_total{operation, outcome}`: `POST /graphql` requests by operation name
//!   and outcome (see [`Outcome`]);
//! - `hub_graphql_request_duration_seconds`: a latency histogram of the same requests;
//! - `hub_graphql_operations_total{operation, document, source}`: the operations run, by name
//!   (`anonymous` when unnamed), the first 16 hexadecimal digits of their document's SHA-256
//!   and where the document came from (`document`, `persisted`, `registered`, `manifest`); at
//!   most 200 (name, document) pairs get labels of their own, later ones count as `other`
//!   ([`record_operation`]);
//! - `hub_db_connections{state="in_use"|"idle"}` and `hub_db_connections_max`: the pool;
//! - `audit_write_failures_total`: audit events that could not be written; `audit` counts each
//!   of its failed appends through [`audit_write_failed`];
//! - `audit_batches_total` and `audit_batch_events`: the transactions in which the audit appender
//!   committed the events of concurrent requests together, and a histogram of their sizes
//!   ([`audit_batch`]).
//! - `hub_grant_cache_fills_total` and `hub_grant_cache_invalidations_total`: reads of the grants
//!   into the grant cache, and drops of a filled cache (a grant change here, a notification, a
//!   moved generation or a failed poll).
//! - `hub_jwks_fetches_total{source, outcome}`, `hub_jwks_last_fetch{source, outcome}` (1 for the
//!   outcome of the last fetch, 0 for the others), `hub_jwks_keys{source}` and
//!   `hub_jwks_age_seconds{source}` (-1 before the first good fetch): the identity provider's keys
//!   ([`jwks_fetched`], [`jwks_key_set`]), `source` the configured address.
//! - `hub_subscription_connections` and `hub_subscription_closes_total{code}`: the WebSocket
//!   connections of subscriptions open now, and those the server closed, by close code (1013: a
//!   client too slow to take its messages; [`SubscriptionConnection`]).
//!
//! The registry is process-wide, so any module can count without holding the server's state.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::{DatabaseConnection, DbBackend};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub(crate) fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_new(&settings.level)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive("sqlx=warn".parse().expect("static directive"))
        .add_directive("sea_orm=warn".parse().expect("static directive"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Distinct operation names given labels of their own; later ones count as `other`, so clients
/// cannot grow the metrics without bound.
const MAX_OPERATION_LABELS: usize = 200;
/// Longest operation name used as a label.
const MAX_OPERATION_NAME: usize = 64;

/// How a `POST /graphql` request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Executed without errors.
    Ok,
    /// Executed, with errors in the response (e.g. `FORBIDDEN` fields).
    Error,
    /// Refused before execution: malformed, too large or over a query limit.
    Rejected,
    /// No valid token.
    Unauthenticated,
    /// Over the subject's rate.
    RateLimited,
    /// Over `limits.request_timeout_secs`.
    Timeout,
    /// The database was unavailable.
    Unavailable,
    /// An automatic persisted query's hash the hub does not hold (the client resends it with
    /// its document).
    PersistedQueryNotFound,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::RateLimited => "rate_limited",
            Outcome::Timeout => "timeout",
            Outcome::Unavailable => "unavailable",
            Outcome::PersistedQueryNotFound => "persisted_query_not_found",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
    document: String,
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JwksFetchLabels {
    source: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JwksLabels {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadRouteLabels {
    from: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    connections: Family<PoolLabels, Gauge>,
    connections_max: Gauge,
    audit_write_failures: Counter,
    stats_cache: Family<CacheLabels, Counter>,
    stats_cache_bytes: Gauge,
    audit_batches: Counter,
    audit_batch_events: Histogram,
    grant_cache_fills: Counter,
    grant_cache_invalidations: Counter,
    jwks_fetches: Family<JwksFetchLabels, Counter>,
    jwks_last_fetch: Family<JwksFetchLabels, Gauge>,
    jwks_keys: Family<JwksLabels, Gauge>,
    jwks_age: Family<JwksLabels, Gauge>,
    read_routes: Family<ReadRouteLabels, Counter>,
    subscription_connections: Gauge,
    subscription_closes: Family<CloseLabels, Counter>,
    operations: Mutex<HashSet<String>>,
    documents: Family<OperationLabels, Counter>,
    /// The (name, document) pairs labelled so far.
    document_labels: Mutex<HashSet<(String, String)>>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "hub_graphql_requests",
        "POST /graphql requests by operation name and outcome",
        requests.clone(),
    );
    // 5 ms to about 20 s.
    let duration = Histogram::new(exponential_buckets(0.005, 2.0, 13));
    registry.register(
        "hub_graphql_request_duration_seconds",
        "Time to answer POST /graphql, in seconds",
        duration.clone(),
    );
    let documents = Family::<OperationLabels, Counter>::default();
    registry.register(
        "hub_graphql_operations",
        "GraphQL operations run, by name, document hash (16 hex digits) and source",
        documents.clone(),
    );
    let connections = Family::<PoolLabels, Gauge>::default();
    registry.register(
        "hub_db_connections",
        "Database pool connections by state (in_use, idle)",
        connections.clone(),
    );
    let connections_max = Gauge::default();
    registry.register(
        "hub_db_connections_max",
        "Largest size of the database pool",
        connections_max.clone(),
    );
    let audit_write_failures = Counter::default();
    registry.register(
        "audit_write_failures",
        "Audit records that could not be written",
        audit_write_failures.clone(),
    );
    let stats_cache = Family::<CacheLabels, Counter>::default();
    registry.register(
        "hub_stats_cache_lookups",
        "Canonical stats tables looked up, by outcome (hit: cached for the current generation; miss: computed)",
        stats_cache.clone(),
    );
    let stats_cache_bytes = Gauge::default();
    registry.register(
        "hub_stats_cache_bytes",
        "Bytes the cached canonical stats tables take, about",
        stats_cache_bytes.clone(),
    );
    let audit_batches = Counter::default();
    registry.register(
        "audit_batches",
        "Transactions in which concurrent requests' audit events were appended together",
        audit_batches.clone(),
    );
    // 1 to 1024 events.
    let audit_batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 11));
    registry.register(
        "audit_batch_events",
        "Audit events per appended batch",
        audit_batch_events.clone(),
    );
    let grant_cache_fills = Counter::default();
    registry.register(
        "hub_grant_cache_fills",
        "Reads of the grants into the grant cache",
        grant_cache_fills.clone(),
    );
    let grant_cache_invalidations = Counter::default();
    registry.register(
        "hub_grant_cache_invalidations",
        "Drops of the filled grant cache after a change of grants or a failed poll",
        grant_cache_invalidations.clone(),
    );
    let jwks_fetches = Family::<JwksFetchLabels, Counter>::default();
    registry.register(
        "hub_jwks_fetches",
        "Fetches of the identity provider's keys, by source and outcome (ok, unreachable, http_error, invalid)",
        jwks_fetches.clone(),
    );
    let jwks_last_fetch = Family::<JwksFetchLabels, Gauge>::default();
    registry.register(
        "hub_jwks_last_fetch",
        "1 for the outcome of the last fetch of the identity provider's keys, 0 for the others",
        jwks_last_fetch.clone(),
    );
    let jwks_keys = Family::<JwksLabels, Gauge>::default();
    registry.register(
        "hub_jwks_keys",
        "Signing keys in the identity provider's key set in force",
        jwks_keys.clone(),
    );
    let jwks_age = Family::<JwksLabels, Gauge>::default();
    registry.register(
        "hub_jwks_age_seconds",
        "Seconds since the identity provider's key set in force was fetched (-1: none yet)",
        jwks_age.clone(),
    );
    let read_routes = Family::<ReadRouteLabels, Counter>::default();
    registry.register(
        "hub_read_routes",
        "GraphQL requests by the server they read from (primary, replica) and why (caught_up, replica_behind, replica_unreachable, write), when database.read_url is set",
        read_routes.clone(),
    );
    let subscription_connections = Gauge::default();
    registry.register(
        "hub_subscription_connections",
        "WebSocket connections of subscriptions open now",
        subscription_connections.clone(),
    );
    let subscription_closes = Family::<CloseLabels, Counter>::default();
    registry.register(
        "hub_subscription_closes",
        "WebSocket connections of subscriptions the server closed, by close code (1013: the client did not take its messages fast enough)",
        subscription_closes.clone(),
    );
    Metrics {
        registry,
        read_routes,
        subscription_connections,
        subscription_closes,
        jwks_fetches,
        jwks_last_fetch,
        jwks_keys,
        jwks_age,
        stats_cache,
        stats_cache_bytes,
        grant_cache_fills,
        grant_cache_invalidations,
        requests,
        duration,
        connections,
        connections_max,
        audit_write_failures,
        audit_batches,
        audit_batch_events,
        operations: Mutex::new(HashSet::new()),
        documents,
        document_labels: Mutex::new(HashSet::new()),
    }
});

/// Audit events that could not be written since the process started.
#[cfg(test)]
pub(crate) fn audit_write_failures() -> u64 {
    METRICS.audit_write_failures.get()
}

/// Counts a lookup of a canonical stats table: a hit, or a miss that computes it.
pub(crate) fn stats_cache_lookup(hit: bool) {
    METRICS
        .stats_cache
        .get_or_create(&CacheLabels {
            outcome: if hit { "hit" } else { "miss" },
        })
        .inc();
}

/// Sets the bytes the cached canonical stats tables take.
pub(crate) fn stats_cache_bytes(bytes: usize) {
    METRICS
        .stats_cache_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

/// Counts one audit event that could not be written (`audit` calls it for each failed append).
pub(crate) fn audit_write_failed() {
    METRICS.audit_write_failures.inc();
}

/// Counts one batch of `events` audit events, begun by the audit appender.
pub(crate) fn audit_batch(events: usize) {
    METRICS.audit_batches.inc();
    METRICS.audit_batch_events.observe(events as f64);
}

/// Counts one request routed to `from` (primary, replica) for `reason`.
pub(crate) fn read_routed(from: &'static str, reason: &'static str) {
    METRICS
        .read_routes
        .get_or_create(&ReadRouteLabels { from, reason })
        .inc();
}

/// One open WebSocket connection of subscriptions, counted in `hub_subscription_connections`
/// until dropped.
pub(crate) struct SubscriptionConnection(());

impl SubscriptionConnection {
    pub(crate) fn open() -> SubscriptionConnection {
        METRICS.subscription_connections.inc();
        SubscriptionConnection(())
    }
}

impl Drop for SubscriptionConnection {
    fn drop(&mut self) {
        METRICS.subscription_connections.dec();
    }
}

/// Counts one subscription connection the server closed with `code`.
pub(crate) fn subscription_connection_closed(code: u16) {
    METRICS
        .subscription_closes
        .get_or_create(&CloseLabels { code })
        .inc();
}

/// Counts one read of the grants into a grant cache.
pub(crate) fn grant_cache_filled() {
    METRICS.grant_cache_fills.inc();
}

/// Counts one drop of a filled grant cache.
pub(crate) fn grant_cache_invalidated() {
    METRICS.grant_cache_invalidations.inc();
}

/// Counts one fetch of the identity provider's keys from `source` and records its outcome as the
/// last one (`outcomes` lists every outcome, so the others read 0).
pub(crate) fn jwks_fetched(source: &str, outcome: &'static str, outcomes: &[&'static str]) {
    let labels = |outcome| JwksFetchLabels {
        source: source.to_owned(),
        outcome,
    };
    METRICS.jwks_fetches.get_or_create(&labels(outcome)).inc();
    for other in outcomes {
        METRICS
            .jwks_last_fetch
            .get_or_create(&labels(other))
            .set(i64::from(*other == outcome));
    }
}

/// Sets the size of the identity provider's key set in force and its age (`None`: none fetched).
pub(crate) fn jwks_key_set(source: &str, keys: usize, age: Option<Duration>) {
    let labels = JwksLabels {
        source: source.to_owned(),
    };
    METRICS
        .jwks_keys
        .get_or_create(&labels)
        .set(i64::try_from(keys).unwrap_or(i64::MAX));
    let age = age.map_or(-1, |age| i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
    METRICS.jwks_age.get_or_create(&labels).set(age);
}

/// Counts one `POST /graphql` request and its latency. `operation` is the executed operation's
/// name, `None` for an anonymous or unknown one.
pub(crate) fn record_request(operation: Option<&str>, outcome: Outcome, elapsed: Duration) {
    let operation = operation_label(operation);
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            operation,
            outcome: outcome.as_str(),
        })
        .inc();
    METRICS.duration.observe(elapsed.as_secs_f64());
}

/// Counts one operation run: its name, the SHA-256 of its document (`hash`, hexadecimal) and
/// where the document came from. The labels stay bounded: an invalid or long name counts as
/// `other`, and past [`MAX_OPERATION_LABELS`] distinct (name, document) pairs both labels are
/// `other`.
pub(crate) fn record_operation(operation: Option<&str>, hash: &str, source: &'static str) {
    let name = match operation {
        None => "anonymous".to_owned(),
        Some(name)
            if !name.is_empty()
                && name.len() <= MAX_OPERATION_NAME
                && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric()) =>
        {
            name.to_owned()
        }
        Some(_) => "other".to_owned(),
    };
    let document: String = hash.chars().take(16).collect();
    let pair = (name, document);
    let (operation, document) = {
        let mut known = METRICS
            .document_labels
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if known.contains(&pair) || known.len() < MAX_OPERATION_LABELS {
            known.insert(pair.clone());
            pair
        } else {
            ("other".to_owned(), "other".to_owned())
        }
    };
    METRICS
        .documents
        .get_or_create(&OperationLabels {
            operation,
            document,
            source,
        })
        .inc();
}

fn operation_label(operation: Option<&str>) -> String {
    let Some(name) = operation else {
        return "anonymous".to_owned();
    };
    let valid = !name.is_empty()
        && name.len() <= MAX_OPERATION_NAME
        && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric());
    if !valid {
        return "other".to_owned();
    }
    let mut known = METRICS
        .operations
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if known.contains(name) {
        return name.to_owned();
    }
    if known.len() < MAX_OPERATION_LABELS {
        known.insert(name.to_owned());
        return name.to_owned();
    }
    "other".to_owned()
}

/// The metrics in the text exposition format, with the pool's current use read from `db`.
pub(crate) fn render(db: &DatabaseConnection) -> Result<String, std::fmt::Error> {
    let (size, idle, max) = pool_use(db);
    let in_use = size.saturating_sub(idle);
    METRICS
        .connections
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(in_use));
    METRICS
        .connections
        .get_or_create(&PoolLabels { state: "idle" })
        .set(i64::from(idle));
    METRICS.connections_max.set(i64::from(max));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &METRICS.registry)?;
    Ok(out)
}

/// Connections open, idle, and the pool's maximum.
fn pool_use(db: &DatabaseConnection) -> (u32, u32, u32) {
    fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> (u32, u32, u32) {
        let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
        (pool.size(), idle, pool.options().get_max_connections())
    }
    match db.get_database_backend() {
        DbBackend::Sqlite => of(db.get_sqlite_connection_pool()),
        DbBackend::Postgres => of(db.get_postgres_connection_pool()),
        _ => (0, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded_and_clean() {
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("Traces")), "Traces");
        assert_eq!(operation_label(Some("bad name\n")), "other");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other");
    }
}
