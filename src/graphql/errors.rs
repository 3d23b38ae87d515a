//! One mapping from service errors to GraphQL errors with `extensions.code`. An unexpected error
//! shows a generic message and a correlation id; its cause goes to the log only.

use async_graphql::ErrorExtensions;

use crate::error::Error;

/// The codes a client can rely on.
pub(crate) mod code {
    pub(crate) const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub(crate) const FORBIDDEN: &str = "FORBIDDEN";
    pub(crate) const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub(crate) const NOT_FOUND: &str = "NOT_FOUND";
    pub(crate) const CONFLICT: &str = "CONFLICT";
    pub(crate) const INTERNAL: &str = "INTERNAL";
    /// The database is unreachable or busy; the HTTP status is 503 and a retry may succeed.
    pub(crate) const UNAVAILABLE: &str = "UNAVAILABLE";
    /// The request ran longer than `limits.request_timeout_secs`; HTTP 503.
    pub(crate) const TIMEOUT: &str = "TIMEOUT";
    /// The caller sent more requests than its rate allows; HTTP 429.
    pub(crate) const RATE_LIMITED: &str = "RATE_LIMITED";
    /// The operation exceeds a request limit (size, tokens, depth, complexity, directives,
    /// fragment recursion); HTTP 400, refused before any database work.
    pub(crate) const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
    /// An automatic persisted query's hash this hub does not know (Apollo clients then resend
    /// it with its document).
    pub(crate) const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// Automatic persisted queries are turned off (`limits.persisted_max = 0`).
    pub(crate) const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
    /// A document whose SHA-256 is not the `sha256Hash` sent with it.
    pub(crate) const PERSISTED_QUERY_HASH_MISMATCH: &str = "PERSISTED_QUERY_HASH_MISMATCH";
    /// In allow-list mode (`limits.persisted_only`), an operation not in the manifest.
    pub(crate) const PERSISTED_QUERY_NOT_ALLOWED: &str = "PERSISTED_QUERY_NOT_ALLOWED";
    /// A mutation (or subscription) sent with `GET`; HTTP 405.
    pub(crate) const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// No response media type the client accepts; HTTP 406.
    pub(crate) const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
}

impl ErrorExtensions for Error {
    fn extend(&self) -> async_graphql::Error {
        match self {
            Error::NotFound => async_graphql::Error::new("not found")
                .extend_with(|_, e| e.set("code", code::NOT_FOUND)),
            Error::Forbidden(message) => async_graphql::Error::new(message.clone())
                .extend_with(|_, e| e.set("code", code::FORBIDDEN)),
            Error::Conflict(message) => async_graphql::Error::new(message.clone())
                .extend_with(|_, e| e.set("code", code::CONFLICT)),
            Error::Invalid { field, reason } => {
                let field = field.clone();
                async_graphql::Error::new(format!("{field}: {reason}")).extend_with(move |_, e| {
                    e.set("code", code::BAD_USER_INPUT);
                    e.set("field", field.clone());
                })
            }
            Error::Unavailable(reason) => {
                async_graphql::Error::new(format!("service unavailable: {reason}; retry later"))
                    .extend_with(|_, e| e.set("code", code::UNAVAILABLE))
            }
            Error::Unexpected(cause)
                if cause.chain().any(|e| {
                    e.downcast_ref::<sea_orm::DbErr>()
                        .and_then(crate::error::unavailability)
                        .is_some()
                }) =>
            {
                let reason = cause
                    .chain()
                    .find_map(|e| {
                        e.downcast_ref::<sea_orm::DbErr>()
                            .and_then(crate::error::unavailability)
                    })
                    .unwrap_or("the database cannot be used now");
                Error::Unavailable(reason).extend()
            }
            Error::Unexpected(cause) => {
                let correlation_id = correlation_id();
                tracing::error!(%correlation_id, error = ?cause, "internal error");
                async_graphql::Error::new(format!(
                    "internal error; quote correlation id {correlation_id} when reporting it"
                ))
                .extend_with(move |_, e| {
                    e.set("code", code::INTERNAL);
                    e.set("correlationId", correlation_id.clone());
                })
            }
        }
    }
}

tokio::task_local! {
    /// The correlation id of the request being executed.
    static CORRELATION_ID: String;
}

/// Runs `work` with `correlation_id` as the id its INTERNAL errors quote (and log), so a caller
/// quoting it finds the request's log lines and audit event.
pub(crate) async fn with_correlation_id<F: std::future::Future>(
    correlation_id: String,
    work: F,
) -> F::Output {
    CORRELATION_ID.scope(correlation_id, work).await
}

/// The correlation id of the request being executed; a fresh one outside a request.
fn correlation_id() -> String {
    CORRELATION_ID
        .try_with(Clone::clone)
        .ok()
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Converts a service result into a GraphQL result carrying the error's code. (A bare `?` would
/// use async-graphql's blanket conversion and lose the code.)
pub(crate) trait ResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> ResultExt<T> for Result<T, Error> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}

/// A FORBIDDEN error for a field the caller's role may not read.
pub(crate) fn field_forbidden(entity: &str, field: &str) -> async_graphql::Error {
    Error::Forbidden(format!("your role may not read {entity}.{field}")).extend()
}

/// The GraphQL error of a failed DataLoader batch.
pub(crate) fn loader_error(error: std::sync::Arc<Error>) -> async_graphql::Error {
    error.as_ref().extend()
}
