//! The HTTP server: `POST /graphql`, GraphiQL on `GET /graphql` in development mode, `GET /healthz`,
//! `GET /readyz` and `GET /metrics`. `Application::build` binds its own listener, so production
//! passes a port and tests pass 0.
//!
//! A request to `POST /graphql` meets, in order and each before any database work: the JSON
//! content type (415), the token (401), the subject's rate (429), the body size (413), the JSON
//! shape (400; no batches), the document's size and tokens and its fragment expansion (400,
//! `LIMIT_EXCEEDED`), then async-graphql's depth, complexity, directive and recursion limits (400,
//! `LIMIT_EXCEEDED`). Execution runs under `limits.request_timeout_secs` (503, `TIMEOUT`, the work
//! dropped); a response with an `UNAVAILABLE` error is sent with 503.

pub mod limits;
pub mod metrics;
pub mod rate;
pub mod request_id;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, Service};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::DocumentOperations;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::sync::watch;

use crate::auth::{AuthError, Verifier};
use crate::config::{LimitsSettings, Settings};
use crate::graphql::errors::{code, with_correlation_id};
use crate::graphql::execute::{PURPOSE_HEADER, execute, purpose_from_header};
use crate::graphql::{HubSchema, Limits, build_schema};
use crate::policy::{Access, Policy};
use crate::store;
use metrics::Outcome;
use rate::RateLimiter;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: HubSchema,
    pub db: DatabaseConnection,
    pub verifier: Verifier,
    pub policy: Arc<Policy>,
    pub development: bool,
    pub limits: Arc<LimitsSettings>,
    pub rate: Option<Arc<RateLimiter>>,
    pub shutdown: Shutdown,
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
}

impl Application {
    /// Connects to the database, applies migrations and binds the listener of `settings.server.bind`.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let db = store::connect(&settings.database).await?;
        store::migrate(&db).await?;
        let policy = Policy::load(&settings.policy)?;
        Self::build_with(settings, db, Arc::new(policy))
    }

    /// Binds the server over an open database and a policy.
    pub fn build_with(
        settings: Settings,
        db: DatabaseConnection,
        policy: Arc<Policy>,
    ) -> anyhow::Result<Application> {
        policy.check_fields(&crate::store::catalogue())?;
        let verifier = Verifier::from_settings(&settings.auth)?;
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let limits = Arc::new(settings.limits.clone());
        let shutdown = Shutdown::new();
        let state = AppState {
            schema: build_schema(Limits::from_settings(&limits)),
            db,
            verifier,
            policy,
            development: settings.server.development,
            rate: RateLimiter::new(limits.rate_per_second, limits.rate_burst).map(Arc::new),
            limits,
            shutdown: shutdown.clone(),
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
            App::new()
                .app_data(web::Data::new(state.clone()))
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
                .route("/graphql", web::post().to(graphql))
                .route("/graphql", web::get().to(graphiql))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics_text))
        })
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .shutdown_signal(signal)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            shutdown,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The handle that starts a graceful shutdown.
    pub fn shutdown_handle(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until [`Shutdown::begin`] is called, then drains in-flight requests. OS signals are
    /// not handled here (tests run many servers in one process); `serve` uses
    /// [`Application::run_until_signalled`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
        let result = self.server.await;
        watcher.abort();
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

/// A GraphQL-shaped error response for failures before execution.
fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    }))
}

fn retry_after(mut response: HttpResponse, after: Duration) -> HttpResponse {
    let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
    if let Ok(value) = header::HeaderValue::from_str(&secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            let v = v.trim().to_ascii_lowercase();
            v == "application/json" || v == "application/graphql-response+json"
        })
        .unwrap_or(false)
}

/// What one `POST /graphql` came to, for the metrics and the request log line.
struct Handled {
    response: HttpResponse,
    outcome: Outcome,
    operation: Option<String>,
}

impl Handled {
    fn refused(response: HttpResponse, outcome: Outcome) -> Self {
        Self {
            response,
            outcome,
            operation: None,
        }
    }
}

async fn graphql(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let handled = handle_graphql(&req, payload, &state).await;
    // Not for 429s: recording every refused request would hand the rate it limits to the database.
    if handled.outcome == Outcome::Rejected {
        audit_refusal(&req, &state, handled.operation.as_deref());
    }
    let elapsed = started.elapsed();
    metrics::record_request(handled.operation.as_deref(), handled.outcome, elapsed);
    tracing::info!(
        operation = handled.operation.as_deref().unwrap_or(""),
        outcome = handled.outcome.as_str(),
        status = handled.response.status().as_u16(),
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "graphql request"
    );
    handled.response
}

/// Records a request of a verified caller that was refused before execution (over a limit or its
/// rate, malformed), as a denied operation. In the background: the refusal must stay cheap.
fn audit_refusal(req: &HttpRequest, state: &AppState, operation: Option<&str>) {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Ok(caller) = state.verifier.verify_header(header) else {
        return;
    };
    let correlation = req
        .extensions()
        .get::<request_id::CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let event = crate::audit::NewEvent {
        subject: caller.subject,
        role: caller.role,
        purpose: None,
        operation: operation.unwrap_or("(refused before execution)").to_owned(),
        entities: Vec::new(),
        data_owners: Vec::new(),
        rows_returned: 0,
        outcome: crate::audit::Outcome::Denied,
        correlation_id: correlation,
    };
    let db = state.db.clone();
    tokio::spawn(async move {
        if let Err(error) = crate::audit::append(&db, event).await {
            tracing::error!(error = %error, "cannot record the audit event of a refused request");
            metrics::audit_write_failed();
        }
    });
}

async fn handle_graphql(req: &HttpRequest, payload: web::Payload, state: &AppState) -> Handled {
    let limits = &state.limits;
    if !is_json(req) {
        return Handled::refused(
            error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::BAD_USER_INPUT,
                "send the GraphQL request as JSON with Content-Type: application/json",
            ),
            Outcome::Rejected,
        );
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match state.verifier.verify_header(header) {
        Ok(caller) => caller,
        Err(error) => return Handled::refused(unauthenticated(&error), Outcome::Unauthenticated),
    };
    if let Some(rate) = &state.rate
        && let Err(wait) = rate.check(&caller.subject)
    {
        let response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            "too many requests for this token subject; retry after the Retry-After seconds",
        );
        return Handled::refused(retry_after(response, wait), Outcome::RateLimited);
    }
    let too_large = || {
        Handled::refused(
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::LIMIT_EXCEEDED,
                &format!(
                    "the request body is larger than {} bytes (limits.body_bytes)",
                    limits.body_bytes
                ),
            ),
            Outcome::Rejected,
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return too_large();
    }
    let body = match payload.to_bytes_limited(limits.body_bytes).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            return Handled::refused(
                error_response(
                    StatusCode::BAD_REQUEST,
                    code::BAD_USER_INPUT,
                    "the request body could not be read",
                ),
                Outcome::Rejected,
            );
        }
        Err(_) => return too_large(),
    };
    let bad = |message: String| {
        Handled::refused(
            error_response(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message),
            Outcome::Rejected,
        )
    };
    let mut request: async_graphql::Request =
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Array(_)) => {
                return bad(
                    "batched requests are not accepted; send one operation per request".into(),
                );
            }
            Ok(value) => match serde_json::from_value(value) {
                Ok(request) => request,
                Err(e) => return bad(format!("not a GraphQL request: {e}")),
            },
            Err(e) => return bad(format!("malformed JSON: {e}")),
        };
    let limit_exceeded = |message: &str| {
        Handled::refused(
            error_response(StatusCode::BAD_REQUEST, code::LIMIT_EXCEEDED, message),
            Outcome::Rejected,
        )
    };
    if let Err(limits::Exceeded(message)) = limits::check_text(&request.query, limits) {
        return limit_exceeded(&message);
    }
    // A document that does not parse is reported by async-graphql as usual.
    let requested = request.operation_name.clone();
    let operation = match request.parsed_query() {
        Ok(document) => {
            if let Err(limits::Exceeded(message)) = limits::check_expansion(document, limits) {
                return limit_exceeded(&message);
            }
            operation_name(document, requested.as_deref())
        }
        Err(_) => None,
    };
    let stated = req
        .headers()
        .get(PURPOSE_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let purpose = match purpose_from_header(stated) {
        Ok(purpose) => purpose,
        Err(message) => {
            return Handled::refused(
                error_response(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message),
                Outcome::Rejected,
            );
        }
    };
    let correlation = req
        .extensions()
        .get::<request_id::CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let access = Access::new(caller, state.policy.clone()).with_purpose(purpose);
    let timed_out_event = crate::audit::NewEvent {
        subject: access.caller.subject.clone(),
        role: access.role(),
        purpose: access.purpose.clone(),
        operation: crate::audit::operation_label(operation.as_deref(), &request.query),
        entities: Vec::new(),
        data_owners: Vec::new(),
        rows_returned: 0,
        outcome: crate::audit::Outcome::Error,
        correlation_id: correlation.clone(),
    };
    // INTERNAL errors quote the request's correlation id.
    let execution = with_correlation_id(
        correlation.clone(),
        execute(
            &state.schema,
            &state.db,
            access,
            request,
            operation.as_deref(),
            &correlation,
        ),
    );
    let response = if limits.request_timeout_secs == 0 {
        execution.await
    } else {
        match tokio::time::timeout(Duration::from_secs(limits.request_timeout_secs), execution)
            .await
        {
            Ok(response) => response,
            Err(_) => {
                // The execution future, with its queries and any open transaction (rolled
                // back), has been dropped.
                tracing::warn!(
                    timeout_secs = limits.request_timeout_secs,
                    "request timed out"
                );
                // The abandoned operation still leaves its audit event, as an error; recorded
                // in the background, since the database may be what made it slow.
                let db = state.db.clone();
                tokio::spawn(async move {
                    if let Err(error) = crate::audit::append(&db, timed_out_event).await {
                        tracing::error!(error = %error, "cannot record the audit event of a timed-out request");
                        metrics::audit_write_failed();
                    }
                });
                let response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    code::TIMEOUT,
                    &format!(
                        "the request took longer than {} seconds and was abandoned \
                         (limits.request_timeout_secs); a write still in progress was rolled back, \
                         but mutation fields that had completed stay committed: read before retrying",
                        limits.request_timeout_secs
                    ),
                );
                return Handled {
                    response: retry_after(response, Duration::from_secs(1)),
                    outcome: Outcome::Timeout,
                    operation,
                };
            }
        }
    };
    finish(response, operation)
}

/// The messages of async-graphql's own limit errors, which carry no code of their own, and the
/// settings they enforce.
const LIMIT_MESSAGES: [(&str, &str); 4] = [
    ("Query is too complex", "limits.complexity"),
    ("Query is nested too deep", "limits.depth"),
    (
        "The recursion depth of the query cannot be greater than",
        "limits.recursive_depth",
    ),
    (
        "The number of directives on the field",
        "limits.directives_per_field",
    ),
];

/// Sets the HTTP status from the response's errors: 503 when the database was unavailable, 400
/// (and `LIMIT_EXCEEDED`) when async-graphql refused the operation for a limit, else 200.
fn finish(mut response: async_graphql::Response, operation: Option<String>) -> Handled {
    let error_code = |e: &async_graphql::ServerError| {
        e.extensions
            .as_ref()
            .and_then(|x| x.get("code"))
            .and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s.clone()),
                _ => None,
            })
    };
    let mut status = StatusCode::OK;
    let mut outcome = if response.errors.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Error
    };
    if response
        .errors
        .iter()
        .any(|e| error_code(e).as_deref() == Some(code::UNAVAILABLE))
    {
        status = StatusCode::SERVICE_UNAVAILABLE;
        outcome = Outcome::Unavailable;
    } else if response.data == async_graphql::Value::Null {
        for error in &mut response.errors {
            let setting = LIMIT_MESSAGES
                .iter()
                .find(|(message, _)| error.message.starts_with(message))
                .map(|(_, setting)| *setting);
            if let Some(setting) = setting
                && error.path.is_empty()
                && error_code(error).is_none()
            {
                error.message = format!("{} ({setting})", error.message.trim_end_matches('.'));
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("code", code::LIMIT_EXCEEDED);
                status = StatusCode::BAD_REQUEST;
                outcome = Outcome::Rejected;
            }
        }
    }
    let mut http = HttpResponse::build(status);
    http.content_type(ContentType::json());
    let http = http.json(response);
    let http = if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_after(http, Duration::from_secs(1))
    } else {
        http
    };
    Handled {
        response: http,
        outcome,
        operation,
    }
}

/// The name of the operation the request executes, when it has one.
fn operation_name(
    document: &async_graphql::parser::types::ExecutableDocument,
    requested: Option<&str>,
) -> Option<String> {
    match &document.operations {
        DocumentOperations::Single(_) => None,
        DocumentOperations::Multiple(operations) => match requested {
            Some(name) => operations
                .keys()
                .find(|k| k.as_str() == name)
                .map(|k| k.to_string()),
            None if operations.len() == 1 => operations.keys().next().map(|k| k.to_string()),
            None => None,
        },
    }
}

fn unauthenticated(error: &AuthError) -> HttpResponse {
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        code::UNAUTHENTICATED,
        &error.to_string(),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    if !state.development {
        return HttpResponse::NotFound().finish();
    }
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .body(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// The process is up.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The hub can serve: not shutting down, the database answers and its migrations are current.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.shutdown.is_shutting_down() {
        return HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "reason": "shutting down" }));
    }
    let check = tokio::time::timeout(Duration::from_secs(2), async {
        state.db.ping().await?;
        store::migrations_current(&state.db).await
    })
    .await;
    match check {
        Ok(Ok(true)) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Ok(Ok(false)) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "reason": "database migrations are pending" })),
        Ok(Err(_)) | Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "not ready", "reason": "database unreachable" })),
    }
}

async fn metrics_text(state: web::Data<AppState>) -> HttpResponse {
    match metrics::render(&state.db) {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
