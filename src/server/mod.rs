//! The HTTP server: `POST /graphql`, GraphiQL on `GET /graphql` in development mode, `GET /healthz`
//! and `GET /readyz`. `Application::build` binds its own listener, so production passes a port and
//! tests pass 0.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use async_graphql::http::GraphiQLSource;
use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::auth::{AuthError, Verifier};
use crate::config::Settings;
use crate::graphql::errors::code;
use crate::graphql::{HubSchema, Limits, RequestContext, build_schema};
use crate::policy::{Access, Policy};
use crate::store;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// What every request handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: HubSchema,
    pub db: DatabaseConnection,
    pub verifier: Verifier,
    pub policy: Arc<Policy>,
    pub development: bool,
}

pub struct Application {
    port: u16,
    server: Server,
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
        policy.check_schema(&crate::graphql::shape::schema_fields())?;
        let verifier = Verifier::from_settings(&settings.auth)?;
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            schema: build_schema(Limits::default()),
            db,
            verifier,
            policy,
            development: settings.server.development,
        };
        let workers = settings.server.workers.max(1);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .wrap(tracing_actix_web::TracingLogger::default())
                .route("/graphql", web::post().to(graphql))
                .route("/graphql", web::get().to(graphiql))
                .route("/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
        })
        .workers(workers)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .listen(listener)?
        .run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop (SIGINT/SIGTERM), then drains in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// A GraphQL-shaped error response for failures before execution.
fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    }))
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

async fn graphql(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if !is_json(&req) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::BAD_USER_INPUT,
            "send the GraphQL request as JSON with Content-Type: application/json",
        );
    }
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = match state.verifier.verify_header(header) {
        Ok(caller) => caller,
        Err(error) => return unauthenticated(&error),
    };
    let request: async_graphql::Request = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Array(_)) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                code::BAD_USER_INPUT,
                "batched requests are not accepted; send one operation per request",
            );
        }
        Ok(value) => match serde_json::from_value(value) {
            Ok(request) => request,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    code::BAD_USER_INPUT,
                    &format!("not a GraphQL request: {e}"),
                );
            }
        },
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                code::BAD_USER_INPUT,
                &format!("malformed JSON: {e}"),
            );
        }
    };
    let access = Access::new(caller, state.policy.clone());
    let context = RequestContext::new(state.db.clone(), access);
    let response = state.schema.execute(request.data(context)).await;
    HttpResponse::Ok()
        .content_type(ContentType::json())
        .json(response)
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

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
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
