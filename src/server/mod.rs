//! The HTTP server: `POST /graphql` and `GET /graphql` (GraphQL over HTTP: queries only over
//! `GET`, the response media type by `Accept`; GraphiQL for a browser's `GET` without a query
//! in development mode), `GET /healthz`,
//! `GET /readyz`, `GET /metrics`, the portal at `GET /` and the browser's files at
//! `GET /static/{path}` (`assets.rs`), and in development mode the development tokens of
//! `dev.rs`, and `GET /export/{list}`, a list's rows as CSV or NDJSON, streamed (`export.rs`).
//! Every response carries the security headers of `assets::security_headers`; CORS
//! answers the origins of `server.cors_origins` and no other. `Application::build` binds its own
//! listener, so production passes a port and tests pass 0.
//!
//! A request to `/graphql` meets, in order and each before any work on the data: the response
//! media type (406), the JSON content type of a POST (415), the token (401), the subject's rate (429), the body size (413), the JSON
//! shape (400; no batches), the persisted operation it names (`persisted.rs`), the document's size and tokens and its fragment expansion (400,
//! `LIMIT_EXCEEDED`), a mutation over GET (405) and the stated purpose (400): its admission (`admission.rs`), which verifies
//! the token once and carries the caller on. Then async-graphql's depth, complexity, directive and
//! recursion limits (400, `LIMIT_EXCEEDED`). Execution (`execution.rs`) runs under
//! `limits.request_timeout_secs` (503, `TIMEOUT`, the work dropped); a response with an
//! `UNAVAILABLE` error is sent with 503.

mod admission;
mod assets;
mod dev;
mod execution;
mod export;
pub(crate) mod limits;
pub(crate) mod persisted;
pub(crate) mod rate;
pub(crate) mod request_id;
mod subscriptions;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service};
use actix_web::http::header;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::watch;

use crate::audit::Appender;
use crate::auth::{KeyStatus, Remote, Verifier};
use crate::config::{LimitsSettings, Settings};
use crate::graphql::{HubSchema, Limits, serving_schema};
use crate::policy::Policy;
use crate::store;
use crate::store::canonical::StatsCache;
use crate::telemetry::{self, Outcome};
use rate::RateLimiter;

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub schema: HubSchema,
    pub db: DatabaseConnection,
    /// Appends the requests' audit events, those of concurrent requests together.
    pub audit: Appender,
    pub verifier: Verifier,
    pub policy: Arc<Policy>,
    pub development: bool,
    pub limits: Arc<LimitsSettings>,
    pub rate: Option<Arc<RateLimiter>>,
    pub shutdown: Shutdown,
    pub grants: Arc<crate::store::grant_cache::GrantCache>,
    /// The persisted-operation manifest (`limits.persisted_manifest`), read at start.
    pub manifest: Option<Arc<persisted::Manifest>>,
    /// The process's bus of record events, which subscriptions follow.
    pub events: Arc<crate::store::events::Events>,
    /// The subscriptions each subject holds in this process.
    pub subscribers: Arc<subscriptions::Subscribers>,
    /// On PostgreSQL, this process's subscription leases, which count each subject's
    /// subscriptions over every process on the database.
    pub leases: Option<Arc<store::leases::Leases>>,
    pub subscriptions: Arc<crate::config::SubscriptionSettings>,
    /// Where requests read: the primary, or the read replica of `database.read_url`.
    pub reads: Arc<store::reads::Reads>,
    /// `server.send_timeout_secs`: how long the kernel lets a connection's client take nothing.
    pub send_timeout: Option<Duration>,
}

/// The "shutting down" flag: once raised, `/readyz` answers 503 and, after
/// `server.shutdown_drain_secs`, the server stops accepting and drains in-flight requests.
#[derive(Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Shutdown {
    fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Starts a graceful shutdown (what SIGTERM and SIGINT do).
    pub fn begin(&self) {
        self.0.send_replace(true);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.0.borrow()
    }

    async fn requested(&self) {
        let mut receiver = self.0.subscribe();
        let _ = receiver.wait_for(|stopping| *stopping).await;
    }
}

pub struct Application {
    port: u16,
    server: Server,
    shutdown: Shutdown,
    audit: Appender,
    background: Background,
}

/// The work a server runs beside its requests while it serves: keeping the grant cache current
/// (the generation poll on every backend, the notification listener on PostgreSQL), the
/// identity provider's keys (when configured) and, on PostgreSQL, the subscription leases
/// (renewed while their subscriptions run, deleted when they end).
struct Background {
    grants: Arc<crate::store::grant_cache::GrantCache>,
    db: DatabaseConnection,
    poll: Duration,
    keys: Option<Arc<Remote>>,
    events: Arc<crate::store::events::Events>,
    leases: Option<Arc<store::leases::Leases>>,
}

/// The running background tasks, stopped when the server stops (or its future is dropped).
struct Running(Vec<tokio::task::JoinHandle<()>>);

impl Background {
    fn start(&self) -> Running {
        use crate::store::grant_cache;
        let mut tasks = vec![
            tokio::spawn(grant_cache::poll(
                self.grants.clone(),
                self.db.clone(),
                self.poll,
            )),
            tokio::spawn(grant_cache::listen(self.grants.clone(), self.db.clone())),
            tokio::spawn(crate::store::events::listen(
                self.events.clone(),
                self.db.clone(),
            )),
        ];
        if let Some(keys) = &self.keys {
            tasks.push(tokio::spawn(keys.clone().keep_current()));
        }
        if let Some(leases) = &self.leases {
            tasks.push(tokio::spawn(leases.clone().keep(self.db.clone())));
        }
        Running(tasks)
    }

    /// Once the server has stopped (its subscriptions with it), deletes this process's
    /// subscription leases rather than leaving them to expire; waits [`RELEASE_WAIT`] at most.
    async fn release_leases(&self) {
        let Some(leases) = &self.leases else {
            return;
        };
        match tokio::time::timeout(RELEASE_WAIT, leases.release_all(&self.db)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "cannot release the subscription leases; they expire");
            }
            Err(_) => tracing::warn!("releasing the subscription leases timed out; they expire"),
        }
    }
}

/// How long a stopping server waits to delete its subscription leases.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

impl Running {
    fn stop(self) {
        drop(self);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Application {
    /// Connects to the database, applies migrations, binds the listener of `settings.server.bind`
    /// and fetches the identity provider's keys when one is configured (a failed fetch is logged
    /// and retried; `/readyz` answers 503 until one succeeds).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = store::connect(&settings.database).await?;
        store::migrate(&db).await?;
        let replica = store::connect_replica(&settings.database).await?;
        let policy = Policy::load(&settings.policy)?;
        let application = Self::build_with_replica(settings, db, replica, Arc::new(policy))?;
        application.fetch_provider_keys().await;
        Ok(application)
    }

    /// Fetches the identity provider's keys now, when one is configured (`serve` does before it
    /// serves). A failure is logged and retried once the server runs; until a fetch succeeds
    /// `/readyz` answers 503 and only locally configured keys verify.
    pub async fn fetch_provider_keys(&self) {
        if let Some(keys) = &self.background.keys {
            keys.fetch_now().await;
        }
    }

    /// Binds the server over an open database and a policy. The identity provider's keys, when
    /// one is configured, are first fetched once the server runs.
    pub fn build_with(
        settings: Settings,
        db: DatabaseConnection,
        policy: Arc<Policy>,
    ) -> anyhow::Result<Application> {
        anyhow::ensure!(
            settings.database.read_url.is_none(),
            "database.read_url is set: open its pool (store::connect_replica) and pass it to \
             Application::build_with_replica"
        );
        Self::build_with_replica(settings, db, None, policy)
    }

    /// Binds the server over an open database, the open pool of its read replica (when
    /// `database.read_url` is set) and a policy.
    pub fn build_with_replica(
        settings: Settings,
        db: DatabaseConnection,
        replica: Option<DatabaseConnection>,
        policy: Arc<Policy>,
    ) -> anyhow::Result<Application> {
        settings.database.check_read_url()?;
        anyhow::ensure!(
            settings.database.read_url.is_some() == replica.is_some(),
            "a read replica's pool is passed exactly when database.read_url is set"
        );
        policy.check_fields(&crate::store::catalogue())?;
        settings.subscriptions.check()?;
        anyhow::ensure!(
            settings.database.audit_batch_max > 0,
            "database.audit_batch_max must be at least 1 (audit events per append transaction)"
        );
        let audit = Appender::new(db.clone(), settings.database.audit_batch_max);
        let verifier = Verifier::from_settings(&settings.auth)?;
        settings.server.check_cors_origins()?;
        let manifest = match &settings.limits.persisted_manifest {
            Some(path) => {
                let manifest = persisted::Manifest::load(path)?;
                tracing::info!(
                    path = %path.display(),
                    operations = manifest.len(),
                    "persisted-operation manifest loaded"
                );
                Some(Arc::new(manifest))
            }
            None => None,
        };
        anyhow::ensure!(
            !settings.limits.persisted_only || manifest.is_some(),
            "limits.persisted_only is set but no limits.persisted_manifest names the operations \
             allowed to run"
        );
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let limits = Arc::new(settings.limits.clone());
        let shutdown = Shutdown::new();
        let grants = crate::store::grant_cache::GrantCache::new();
        let events = crate::store::events::Events::new(db.get_database_backend());
        // SQLite serves one process: its in-memory count is the whole limit.
        let leases = (db.get_database_backend() == sea_orm::DbBackend::Postgres).then(|| {
            store::leases::Leases::new(Duration::from_secs(settings.subscriptions.lease_ttl_secs))
        });
        let background = Background {
            leases: leases.clone(),
            events: events.clone(),
            grants: grants.clone(),
            db: db.clone(),
            poll: Duration::from_millis(settings.cache.generation_poll_ms.max(10)),
            keys: verifier.provider().cloned(),
        };
        let dev_tokens = settings.server.development.then(|| {
            web::Data::new(dev::DevTokens {
                auth: settings.auth.clone(),
                policy: policy.clone(),
            })
        });
        let cors_origins = settings.server.cors_origins.clone();
        let send_timeout = Some(settings.server.send_timeout_secs)
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs);
        let state = AppState {
            reads: Arc::new(store::reads::Reads::new(db.clone(), replica)),
            grants,
            schema: serving_schema(
                Limits::from_settings(&limits),
                Arc::new(StatsCache::new(settings.cache.stats_bytes)),
            ),
            db,
            audit: audit.clone(),
            verifier,
            policy,
            development: settings.server.development,
            rate: RateLimiter::new(limits.rate_per_second, limits.rate_burst).map(Arc::new),
            limits,
            shutdown: shutdown.clone(),
            manifest,
            events,
            subscribers: Arc::default(),
            leases,
            subscriptions: Arc::new(settings.subscriptions.clone()),
            send_timeout,
        };
        let workers = settings.server.workers.max(1);
        let drain = Duration::from_secs(settings.server.shutdown_drain_secs);
        let signal = {
            let shutdown = shutdown.clone();
            async move {
                shutdown.requested().await;
                tracing::info!(drain_secs = drain.as_secs(), "shutting down: not ready");
                tokio::time::sleep(drain).await;
                tracing::info!("shutting down: draining in-flight requests");
            }
        };
        let server = HttpServer::new(move || {
            let dev_tokens = dev_tokens.clone();
            App::new()
                .app_data(web::Data::new(state.clone()))
                .wrap(cors(&cors_origins))
                .wrap_fn(|req, service| {
                    let response = service.call(req);
                    async move {
                        let mut response = response.await?;
                        only_for_allowed_origins(response.headers_mut());
                        Ok(response)
                    }
                })
                .wrap_fn(|req, service| {
                    let correlation = req.extensions().get::<request_id::CorrelationId>().cloned();
                    let response = service.call(req);
                    async move {
                        let mut response = response.await?;
                        request_id::echo(correlation, &mut response);
                        Ok(response)
                    }
                })
                .wrap(tracing_actix_web::TracingLogger::<request_id::HubRootSpan>::new())
                .wrap(assets::security_headers())
                .route("/graphql", web::post().to(graphql_post))
                .route(
                    "/graphql",
                    web::get()
                        .guard(actix_web::guard::fn_guard(subscriptions::is_upgrade))
                        .to(subscriptions::upgrade),
                )
                .route("/graphql", web::get().to(graphql_get))
                .route("/export/{list}", web::get().to(export::export))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics_text))
                .route("/", web::get().to(assets::portal))
                .route("/static/{path:.*}", web::get().to(assets::static_file))
                .configure(move |config| {
                    if let Some(dev_tokens) = dev_tokens {
                        config.app_data(dev_tokens);
                        dev::routes(config);
                    }
                })
        })
        .on_connect(move |connection, _| limit_send_stall(connection, send_timeout))
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .shutdown_signal(signal)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            shutdown,
            audit,
            background,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The appender of this server's audit events (its [`Appender::stats`] count its batches).
    pub fn audit(&self) -> &Appender {
        &self.audit
    }

    /// The handle that starts a graceful shutdown.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until [`Shutdown::begin`] is called, then drains in-flight requests. OS signals are
    /// not handled here (tests run many servers in one process); `serve` uses
    /// [`Application::run_until_signalled`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let tasks = self.background.start();
        let result = self.server.await;
        tasks.stop();
        self.background.release_leases().await;
        result
    }

    /// Serves until SIGTERM or SIGINT, then reports not ready, stops accepting after
    /// `server.shutdown_drain_secs`, and finishes in-flight requests within
    /// `server.shutdown_timeout_secs`.
    pub async fn run_until_signalled(self) -> std::io::Result<()> {
        let shutdown = self.shutdown.clone();
        let watcher = tokio::spawn(async move {
            wait_for_signal().await;
            shutdown.begin();
        });
        let tasks = self.background.start();
        let result = self.server.await;
        watcher.abort();
        tasks.stop();
        self.background.release_leases().await;
        result
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => tracing::info!("SIGTERM received"),
                _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

fn retry_after(mut response: HttpResponse, after: Duration) -> HttpResponse {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    if let Ok(value) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// What one `/graphql` request came to, for the metrics and the request log line.
struct Handled {
    response: HttpResponse,
    outcome: Outcome,
    operation: Option<String>,
    /// The SHA-256 of the document it ran, and where the document came from.
    document: Option<(String, persisted::Source)>,
}

impl Handled {
    fn with_document(mut self, hash: String, source: persisted::Source) -> Handled {
        self.document = Some((hash, source));
        self
    }
}

/// `POST /graphql`.
async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    graphql(req, admission::Transport::Post(payload), state).await
}

/// `GET /graphql`: a query from the query string; GraphiQL's page for a browser (`Accept` names
/// `text/html`) that sends no operation, in development mode (404 outside it).
async fn graphql_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let names_operation =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .map_or(true, |params| {
                ["query", "extensions", "documentId", "id"]
                    .iter()
                    .any(|name| params.contains_key(*name))
            });
    if !names_operation && admission::accepts_html(&req) {
        return graphiql(req, state).await;
    }
    graphql(req, admission::Transport::Get, state).await
}

/// `/graphql`: admission, then execution as the verified caller; a refused request of a
/// verified caller is recorded as denied (not for 429s: recording every refused request would
/// hand the rate it limits to the database, nor for an unknown persisted query's hash, which
/// touches nothing and is the first step of every automatic persisted query).
async fn graphql(
    req: HttpRequest,
    transport: admission::Transport,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let correlation = req
        .extensions()
        .get::<request_id::CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let (mut handled, caller, refused_document) =
        match admission::admit(&req, transport, &state).await {
            Ok(admitted) => {
                let caller = admitted.caller.clone();
                let handled = execution::run(admitted, &state, &correlation).await;
                (handled, Some(caller), None)
            }
            Err(refused) => {
                let handled = Handled {
                    response: refused.response,
                    outcome: refused.outcome,
                    operation: refused.operation,
                    document: None,
                };
                (handled, refused.caller, refused.document_hash)
            }
        };
    if handled.outcome == Outcome::Rejected
        && let Some(caller) = &caller
    {
        let hash = handled
            .document
            .as_ref()
            .map(|(hash, _)| hash.as_str())
            .or(refused_document.as_deref());
        execution::audit_refusal(
            &state,
            caller,
            handled.operation.as_deref(),
            hash,
            &correlation,
        );
    }
    // Caches between the client and the hub keep a GET's answer per media type.
    handled
        .response
        .headers_mut()
        .append(header::VARY, header::HeaderValue::from_static("Accept"));
    let elapsed = started.elapsed();
    telemetry::record_request(handled.operation.as_deref(), handled.outcome, elapsed);
    if let Some((hash, source)) = &handled.document {
        telemetry::record_operation(handled.operation.as_deref(), hash, source.as_str());
    }
    tracing::info!(
        operation = handled.operation.as_deref().unwrap_or(""),
        outcome = handled.outcome.as_str(),
        status = handled.response.status().as_u16(),
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "graphql request"
    );
    handled.response
}

/// The headers a page of another origin may send, besides the CORS-safelisted ones.
const CORS_REQUEST_HEADERS: [header::HeaderName; 4] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::HeaderName::from_static("x-access-purpose"),
    header::HeaderName::from_static("x-hub-lsn"),
];

/// How long a browser may reuse a preflight answer (Chromium caps it at two hours).
const CORS_MAX_AGE_SECS: usize = 3600;

/// CORS for the exact origins of `server.cors_origins` (checked at start: no wildcard). A
/// preflight from one of them may send `GET` or `POST` with `Authorization`, `Content-Type`,
/// `X-Access-Purpose` and `X-Hub-Lsn`, and its answer is cached for [`CORS_MAX_AGE_SECS`]; a
/// response to one of them names it in `Access-Control-Allow-Origin` and lets it read
/// `Retry-After`, `X-Request-Id`, `X-Hub-Lsn` and `X-Hub-Read-From`. A request from any other origin is served as if CORS did not exist (no CORS
/// header, so the browser keeps the answer from the page); its preflight is refused. Every
/// response says `Vary: Origin`.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST"])
        .allowed_headers(CORS_REQUEST_HEADERS)
        .expose_headers([
            header::RETRY_AFTER,
            header::HeaderName::from_static(request_id::HEADER),
            header::HeaderName::from_static("x-hub-lsn"),
            header::HeaderName::from_static(execution::READ_FROM_HEADER),
        ])
        .max_age(CORS_MAX_AGE_SECS)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// Leaves `Access-Control-Expose-Headers` (which actix-cors adds to every response) only on the
/// responses to an allowed origin: another origin gets no CORS header at all.
fn only_for_allowed_origins(headers: &mut header::HeaderMap) {
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
}

/// GraphiQL's page in development mode (every asset it loads is served by the hub); 404
/// otherwise. It never executes an operation.
async fn graphiql(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if !state.development {
        return HttpResponse::NotFound().finish();
    }
    assets::graphiql(&req)
}

/// The process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The hub can serve: not shutting down, the database answers and its migrations are current,
/// and the identity provider's keys (when configured) were fetched and are not stale.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.shutdown.is_shutting_down() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "reason": "shutting down" }));
    }
    let unreachable = "database unreachable".to_owned();
    let check = tokio::time::timeout(Duration::from_secs(2), async {
        state.db.ping().await.map_err(|_| unreachable.clone())?;
        store::migrations_current(&state.db)
            .await
            .map_err(|error| match error.downcast_ref::<store::NewerRelease>() {
                Some(newer) => newer.to_string(),
                None => {
                    tracing::warn!(error = %format!("{error:#}"), "readiness: cannot read the migration state");
                    unreachable.clone()
                }
            })
    })
    .await
    .unwrap_or(Err(unreachable));
    match check {
        Ok(true) => match state.verifier.provider().map(|keys| keys.status()) {
            None | Some(KeyStatus::Fresh { .. }) => {
                HttpResponse::Ok().json(json!({ "status": "ready" }))
            }
            Some(status) => provider_keys_readiness(&status),
        },
        Ok(false) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "reason": "database migrations are pending" })),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "reason": reason })),
    }
}

/// `/readyz` when the identity provider's keys are not fresh: 200 and `degraded` while the last
/// good key set is in force and younger than `auth.jwks_stale_secs`; 503 when none was ever
/// fetched, or it is older.
fn provider_keys_readiness(status: &KeyStatus) -> HttpResponse {
    let last = |outcome: Option<crate::auth::FetchOutcome>| {
        outcome.map_or("none yet", crate::auth::FetchOutcome::as_str)
    };
    match status {
        KeyStatus::Fresh { .. } => HttpResponse::Ok().json(json!({ "status": "ready" })),
        KeyStatus::Degraded { age, last: outcome } => HttpResponse::Ok().json(json!({
            "status": "degraded",
            "reason": format!(
                "the identity provider's keys could not be refreshed (last fetch: {}); the key \
                 set fetched {} s ago is in force",
                outcome.as_str(),
                age.as_secs()
            ),
        })),
        KeyStatus::Stale { age, last: outcome } => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not ready",
            "reason": format!(
                "the identity provider's keys were last fetched {} s ago, longer than \
                 auth.jwks_stale_secs (last fetch: {})",
                age.as_secs(),
                outcome.as_str()
            ),
        })),
        KeyStatus::NeverFetched { last: outcome } => {
            HttpResponse::ServiceUnavailable().json(json!({
                "status": "not ready",
                "reason": format!(
                    "no signing keys fetched from the identity provider yet (last fetch: {})",
                    last(*outcome)
                ),
            }))
        }
    }
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    if let Some(keys) = state.verifier.provider() {
        keys.export_metrics();
    }
    match telemetry::render(&state.db) {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}

/// Sets `server.send_timeout_secs` on an accepted connection as its TCP user timeout: the kernel
/// drops the connection once what the hub sent has gone unacknowledged, or has waited on a shut
/// receive window, that long. A client that stopped reading (a subscriber that let its buffer
/// fill, a stalled download) then frees its connection and the kernel's buffers.
fn limit_send_stall(connection: &dyn std::any::Any, timeout: Option<Duration>) {
    let Some(timeout) = timeout else { return };
    let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
        return;
    };
    #[cfg(target_os = "linux")]
    if let Err(error) = socket2::SockRef::from(stream).set_tcp_user_timeout(Some(timeout)) {
        tracing::warn!(%error, "cannot set server.send_timeout_secs on a connection");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (stream, timeout);
}
