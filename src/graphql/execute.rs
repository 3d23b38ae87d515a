//! Executing one GraphQL request for one caller: the store's door gets the caller's access, rows
//! withheld for want of a stated purpose are reported, and every operation (allowed, denied or
//! failed) leaves an audit event. If the event cannot be recorded the request fails: closed, not
//! open.

use async_graphql::{ErrorExtensions, Response, ServerError};
use sea_orm::DatabaseConnection;

use super::HubSchema;
use super::context::RequestContext;
use super::errors::code;
use crate::audit::{self, Appender, NewEvent, Outcome};
use crate::policy::{Access, validate_purpose};

/// The header a caller states its purpose of access in.
pub(crate) const PURPOSE_HEADER: &str = "X-Access-Purpose";

/// `extensions.reason` of the error reporting rows withheld for want of a stated purpose, so a
/// client can ask for one and resend without reading the message.
pub(crate) const PURPOSE_REQUIRED: &str = "PURPOSE_REQUIRED";

/// Reads and checks the stated purpose, if any.
pub(crate) fn purpose_from_header(value: Option<&str>) -> Result<Option<String>, String> {
    value.map(validate_purpose).transpose()
}

/// A request-level error, which belongs to no place in the document: GraphQL locations are
/// 1-based, so it carries none rather than line 0, column 0.
pub(crate) fn unplaced(error: async_graphql::Error) -> ServerError {
    let mut error = error.into_server_error(async_graphql::Pos::default());
    error.locations.clear();
    error
}

fn withheld_error() -> ServerError {
    let error = async_graphql::Error::new(format!(
        "rows owned by other agencies were withheld: reading them requires a stated purpose; send the {PURPOSE_HEADER} header with a case number or a short reason"
    ))
    .extend_with(|_, e| {
        e.set("code", code::FORBIDDEN);
        e.set("reason", PURPOSE_REQUIRED);
    });
    unplaced(error)
}

pub(crate) fn outcome(response: &Response) -> Outcome {
    let codes: Vec<String> = response
        .errors
        .iter()
        .filter_map(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .map(|c| c.to_string().trim_matches('"').to_owned())
        })
        .collect();
    if response.errors.is_empty() {
        Outcome::Ok
    } else if codes
        .iter()
        .any(|c| c == code::FORBIDDEN || c == code::UNAUTHENTICATED)
    {
        Outcome::Denied
    } else {
        Outcome::Error
    }
}

/// What a server runs every request with: its schema, its pool, the pool the request reads from,
/// its audit appender and its grant cache.
pub(crate) struct Served<'a> {
    pub(crate) schema: &'a HubSchema,
    /// The primary: the grants in force are read here.
    pub(crate) db: &'a DatabaseConnection,
    /// What the operation reads and writes through: the primary, or a read replica for a query.
    pub(crate) reads: &'a DatabaseConnection,
    pub(crate) appender: &'a Appender,
    pub(crate) grants: &'a std::sync::Arc<crate::store::grant_cache::GrantCache>,
    pub(crate) events: &'a std::sync::Arc<crate::store::events::Events>,
}

/// Runs one request as `access` and records it in the audit trail.
pub(crate) async fn execute(
    served: Served<'_>,
    access: Access,
    request: async_graphql::Request,
    operation_name: Option<&str>,
    correlation_id: &str,
) -> Response {
    let Served {
        schema,
        db,
        reads,
        appender,
        grants,
        events,
    } = served;
    let operation = audit::operation_label(operation_name, &request.query);
    let document_hash = request_document_hash(&request);
    if request.query.contains('\0')
        || json_has_nul(
            &request
                .variables
                .clone()
                .into_value()
                .into_json()
                .unwrap_or_default(),
        )
    {
        let error =
            async_graphql::Error::new("NUL characters are not accepted in documents or variables")
                .extend_with(|_, e| e.set("code", code::BAD_USER_INPUT));
        let response = Response::from_errors(vec![unplaced(error)]);
        return record(
            appender,
            &access,
            operation,
            document_hash,
            response,
            correlation_id,
        )
        .await;
    }
    // The grants in force now, from the process's grant cache: a grant starts and ends at its
    // own times, and a revoked one stops working as soon as the cache hears of it.
    let access = match grants
        .in_force_for(db, access.role(), chrono::Utc::now())
        .await
    {
        Ok(grants) => access.with_grants(grants),
        Err(error) => {
            let error = async_graphql::ErrorExtensions::extend(&error);
            let response = Response::from_errors(vec![unplaced(error)]);
            return record(
                appender,
                &access,
                operation,
                document_hash,
                response,
                correlation_id,
            )
            .await;
        }
    };
    let mut context = RequestContext::new(reads.clone(), access.clone());
    context.grants = Some(grants.clone());
    context.events = Some(events.clone());
    context.correlation_id = correlation_id.to_owned();
    context.document_hash = document_hash.clone();
    let mut response = schema.execute(request.data(context)).await;
    let trail = access.trail.snapshot();
    if trail.withheld {
        response.errors.push(withheld_error());
    }
    record(
        appender,
        &access,
        operation,
        document_hash,
        response,
        correlation_id,
    )
    .await
}

/// The SHA-256 of the request's document, when it has one.
pub(crate) fn request_document_hash(request: &async_graphql::Request) -> Option<String> {
    (!request.query.is_empty()).then(|| audit::document_hash(&request.query))
}

/// Appends the operation's audit event (with those of concurrent requests) and returns the
/// response once it is committed; if the event cannot be recorded, the response is withheld.
async fn record(
    appender: &Appender,
    access: &Access,
    operation: String,
    document_hash: Option<String>,
    response: Response,
    correlation_id: &str,
) -> Response {
    let trail = access.trail.snapshot();
    let event = NewEvent::of(access, operation, outcome(&response), correlation_id)
        .with_document_hash(document_hash)
        .touching_trail(&trail, trail.rows);
    if let Err(error) = appender.append(event).await {
        tracing::error!(%correlation_id, error = %error, "cannot record the audit event; refusing the response");
        let failure = match crate::error::Error::from(error) {
            // The database is unreachable or busy: say so (503), as the data path would.
            unavailable @ crate::error::Error::Unavailable(_) => unavailable.extend(),
            _ => async_graphql::Error::new(format!(
                "the request could not be recorded in the audit trail, so its result is withheld; quote correlation id {correlation_id}"
            ))
            .extend_with(|_, e| {
                e.set("code", code::INTERNAL);
                e.set("correlationId", correlation_id);
            }),
        };
        return Response::from_errors(vec![unplaced(failure)]);
    }
    response
}

/// Whether any string (or key) in a JSON value holds a NUL character, which PostgreSQL refuses.
fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}
