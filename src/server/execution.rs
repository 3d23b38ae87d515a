//! Execution of an admitted `/graphql` request: under `limits.request_timeout_secs` (503,
//! `TIMEOUT`, the work dropped and its statements cancelled, as they are when the client goes
//! away), with the HTTP status set from the response's errors (503 for
//! `UNAVAILABLE`, 400 and `LIMIT_EXCEEDED` for async-graphql's own limits). Every operation leaves
//! its audit event: `graphql::execute` records it, and a timed-out or refused request is recorded
//! here.

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};

use super::admission::{Admitted, Media, error_response};
use super::{AppState, Handled, retry_after};
use crate::audit::{self, NewEvent};
use crate::graphql::errors::{code, with_correlation_id};
use crate::graphql::execute::{Served, execute};
use crate::policy::Access;
use crate::store::budget::{self, Budget};
use crate::store::reads::ReadFrom;
use crate::telemetry::Outcome;

/// Executes an admitted request as its caller.
pub(super) async fn run(admitted: Admitted, state: &AppState, correlation: &str) -> Handled {
    let Admitted {
        access,
        request,
        operation,
        media,
        document_hash,
        source,
        query,
        lsn,
        ..
    } = admitted;
    let subject = access.caller.subject.clone();
    // Where the operation reads: a query from the read replica once it has replayed the caller's
    // last write, else the primary (`store::reads`).
    let route = state.reads.route(&subject, query, lsn).await;
    let timed_out_event = NewEvent::of(
        &access,
        audit::operation_label(operation.as_deref(), &request.query),
        audit::Outcome::Error,
        correlation,
    )
    .with_document_hash(Some(document_hash.clone()));
    let handled = |response: async_graphql::Response| {
        finish(response, media, operation.clone()).with_document(document_hash.clone(), source)
    };
    // The request's statements stop with it: at its deadline, or when this future is dropped
    // because the client went away (`store::budget`).
    let timeout_secs = state.limits.request_timeout_secs;
    let limit = (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs));
    let budget = match route.from {
        ReadFrom::Replica => Budget::over(&[&state.db, &route.db], limit),
        ReadFrom::Primary => Budget::new(&state.db, limit),
    };
    let stop = budget.stop_on_drop();
    // INTERNAL errors quote the request's correlation id.
    let execution = with_correlation_id(
        correlation.to_owned(),
        execute(
            Served {
                schema: &state.schema,
                db: &state.db,
                reads: &route.db,
                appender: &state.audit,
                grants: &state.grants,
                events: &state.events,
            },
            access,
            request,
            operation.as_deref(),
            correlation,
        ),
    );
    let execution = budget::within(budget, execution);
    let mut handled = match limit {
        None => {
            let response = execution.await;
            stop.finish();
            handled(response)
        }
        Some(limit) => match tokio::time::timeout(limit, execution).await {
            Ok(response) => {
                stop.finish();
                handled(response)
            }
            Err(_) => {
                // Dropping the guard cancels what is still running.
                drop(stop);
                timed_out(state, timed_out_event, media, operation.clone())
                    .with_document(document_hash.clone(), source)
            }
        },
    };
    let headers = handled.response.headers_mut();
    if state.reads.has_replica() {
        headers.insert(
            HeaderName::from_static(READ_FROM_HEADER),
            HeaderValue::from_static(route.from.as_str()),
        );
    }
    // After anything but a query (whose fields may have committed even when it failed or timed
    // out), the write position that covers it, for the client to send back.
    if !query
        && let Some(lsn) = state.reads.after_write(&subject).await
        && let Ok(value) = HeaderValue::from_str(&lsn.to_string())
    {
        headers.insert(HeaderName::from_static(LSN_RESPONSE_HEADER), value);
    }
    handled
}

/// The header naming the server a request read from (`primary`, `replica`), on every answer to
/// `POST /graphql` when a read replica is configured.
pub(crate) const READ_FROM_HEADER: &str = "x-hub-read-from";

/// [`super::admission::LSN_HEADER`] as a header name.
const LSN_RESPONSE_HEADER: &str = "x-hub-lsn";

/// The answer to a request that ran out of time. The execution future, with its queries and any
/// open transaction (rolled back), has been dropped and its statements cancelled; the abandoned operation still leaves its
/// audit event, as an error, recorded in the background since the database may be what made it
/// slow.
fn timed_out(
    state: &AppState,
    event: NewEvent,
    media: Media,
    operation: Option<String>,
) -> Handled {
    let timeout_secs = state.limits.request_timeout_secs;
    tracing::warn!(timeout_secs, "request timed out");
    record_in_background(state, event, "timed-out");
    let response = error_response(
        media,
        StatusCode::SERVICE_UNAVAILABLE,
        code::TIMEOUT,
        &format!(
            "the request took longer than {timeout_secs} seconds and was abandoned \
             (limits.request_timeout_secs); a write still in progress was rolled back, \
             but mutation fields that had completed stay committed: read before retrying"
        ),
    );
    Handled {
        response: retry_after(response, Duration::from_secs(1)),
        outcome: Outcome::Timeout,
        operation,
        document: None,
    }
}

/// Records a request of a verified caller that was refused (over a limit, malformed), as a denied
/// operation. In the background: the refusal must stay cheap.
pub(super) fn audit_refusal(
    state: &AppState,
    caller: &Access,
    operation: Option<&str>,
    document_hash: Option<&str>,
    correlation: &str,
) {
    let event = NewEvent::of(
        caller,
        operation.unwrap_or("(refused before execution)"),
        audit::Outcome::Denied,
        correlation,
    )
    .with_document_hash(document_hash.map(str::to_owned));
    record_in_background(state, event, "refused");
}

/// Appends an event without waiting for it; a failure is logged (and counted by `audit`).
fn record_in_background(state: &AppState, event: NewEvent, what: &'static str) {
    let appender = state.audit.clone();
    tokio::spawn(async move {
        if let Err(error) = appender.append(event).await {
            tracing::error!(error = %error, "cannot record the audit event of a {what} request");
        }
    });
}

/// The messages of async-graphql's own limit errors, which carry no code of their own.
const LIMIT_MESSAGES: [(&str, &str); 3] = [
    ("Query is too complex", "limits.complexity"),
    (
        "The recursion depth of the query cannot be greater than",
        "limits.recursive_depth",
    ),
    (
        "The number of directives on the field",
        "limits.directives_per_field",
    ),
];

fn error_code(error: &async_graphql::ServerError) -> Option<String> {
    error
        .extensions
        .as_ref()
        .and_then(|x| x.get("code"))
        .and_then(|v| match v {
            async_graphql::Value::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// Sets the HTTP status from the response's errors: 503 when the database was unavailable, 400
/// (and `LIMIT_EXCEEDED`) when async-graphql refused the operation for a limit, else 200. With
/// `application/graphql-response+json`, a request that failed before execution (it did not
/// parse or validate, or its variables were wrong: no `data`, every error unplaced) is a 400
/// without `data`, and one whose result was withheld for an internal failure a 500.
fn finish(
    mut response: async_graphql::Response,
    media: Media,
    operation: Option<String>,
) -> Handled {
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
        if response
            .errors
            .iter()
            .any(crate::graphql::depth::is_refusal)
        {
            status = StatusCode::BAD_REQUEST;
            outcome = Outcome::Rejected;
        }
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
    let body = if media == Media::GraphqlResponse
        && status == StatusCode::OK
        && response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
    {
        let internal = response
            .errors
            .iter()
            .any(|e| error_code(e).as_deref() == Some(code::INTERNAL));
        status = if internal {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_REQUEST
        };
        outcome = if internal {
            Outcome::Error
        } else {
            Outcome::Rejected
        };
        serde_json::to_vec(&serde_json::json!({ "errors": response.errors }))
    } else if media == Media::GraphqlResponse && status == StatusCode::BAD_REQUEST {
        // Refused for a limit before execution: no `data` either.
        serde_json::to_vec(&serde_json::json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(&response)
    };
    let http = match body {
        Ok(body) => HttpResponse::build(status)
            .content_type(media.content_type())
            .body(body),
        Err(error) => {
            tracing::error!(%error, "cannot serialise a GraphQL response");
            error_response(
                media,
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "the response could not be written",
            )
        }
    };
    let http = if status == StatusCode::SERVICE_UNAVAILABLE {
        retry_after(http, Duration::from_secs(1))
    } else {
        http
    };
    Handled {
        response: http,
        outcome,
        operation,
        document: None,
    }
}
