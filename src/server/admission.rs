//! Admission of a `POST /graphql` request, before any database work: the JSON content type (415),
//! the token (401), the subject's rate (429), the body and its size (413), the JSON shape (400; no
//! batches), the document's size, tokens and fragment expansion (400, `LIMIT_EXCEEDED`) and the
//! stated purpose (400). The token is verified once, here; what passes carries the verified caller
//! on to execution.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};

use super::{AppState, error_response, limits, retry_after};
use crate::auth::AuthError;
use crate::config::LimitsSettings;
use crate::graphql::errors::code;
use crate::graphql::execute::{PURPOSE_HEADER, purpose_from_header};
use crate::policy::Access;
use crate::store::reads::Lsn;
use crate::telemetry::Outcome;

/// The header a client sends back the write position of its last write in, and that the answer
/// to a write carries it in.
pub(crate) const LSN_HEADER: &str = "X-Hub-Lsn";

/// A request admitted for execution.
pub(super) struct Admitted {
    /// The verified caller as its token names it, before its stated purpose.
    pub caller: Access,
    /// The caller with its stated purpose: what the operation executes as.
    pub access: Access,
    pub request: async_graphql::Request,
    /// The name of the operation the request executes, when it has one.
    pub operation: Option<String>,
    /// Whether the operation it executes is a query (which may read from a replica).
    pub query: bool,
    /// The write position the client sent back (`X-Hub-Lsn`).
    pub lsn: Option<Lsn>,
}

/// A request refused at admission.
pub(super) struct Refused {
    pub response: HttpResponse,
    pub outcome: Outcome,
    /// The verified caller, when the token was valid (its refusal is then recorded).
    pub caller: Option<Access>,
}

/// Runs every admission check in order; the first that fails refuses the request.
pub(super) async fn admit(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<Admitted, Refused> {
    // Verified before the content type is checked (which still answers first), so that a 415 of
    // a verified caller is recorded as that caller's refusal.
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let verified = state
        .verifier
        .verify_header(header)
        .await
        .map(|caller| Access::new(caller, state.policy.clone()));
    if !is_json(req) {
        return Err(Refused {
            response: error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::BAD_USER_INPUT,
                "send the GraphQL request as JSON with Content-Type: application/json",
            ),
            outcome: Outcome::Rejected,
            caller: verified.ok(),
        });
    }
    let caller = verified.map_err(|error| Refused {
        response: unauthenticated(&error),
        outcome: Outcome::Unauthenticated,
        caller: None,
    })?;
    match admit_caller(req, payload, state, &caller).await {
        Ok(checked) => Ok(Admitted {
            access: caller.clone().with_purpose(checked.purpose),
            caller,
            request: checked.request,
            operation: checked.operation.name,
            query: checked.operation.query,
            lsn: checked.lsn,
        }),
        Err(refusal) => Err(Refused {
            outcome: refusal.outcome,
            response: refusal.response(),
            caller: Some(caller),
        }),
    }
}

/// Why a check after the token refused the request.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    outcome: Outcome,
    /// For a 429: when the subject may try again.
    retry_after: Option<Duration>,
}

impl Refusal {
    fn response(&self) -> HttpResponse {
        let response = error_response(self.status, self.code, &self.message);
        match self.retry_after {
            Some(wait) => retry_after(response, wait),
            None => response,
        }
    }
}

type Checked<T> = Result<T, Refusal>;

/// What passed the checks after the token.
struct CallerChecked {
    request: async_graphql::Request,
    operation: Operation,
    purpose: Option<String>,
    lsn: Option<Lsn>,
}

/// The operation a request executes.
struct Operation {
    /// Its name, when it has one.
    name: Option<String>,
    /// Whether it is a query (false when it is a mutation or not known).
    query: bool,
}

/// The checks after the token: rate, body, document, purpose and write position.
async fn admit_caller(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    caller: &Access,
) -> Checked<CallerChecked> {
    check_rate(state, &caller.caller.subject)?;
    let limits = &state.limits;
    let body = read_body(req, payload, limits).await?;
    let mut request = parse_request(&body)?;
    let operation = check_document(&mut request, limits)?;
    let purpose = stated_purpose(req)?;
    let lsn = sent_lsn(req)?;
    Ok(CallerChecked {
        request,
        operation,
        purpose,
        lsn,
    })
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

fn check_rate(state: &AppState, subject: &str) -> Checked<()> {
    if let Some(rate) = &state.rate
        && let Err(wait) = rate.check(subject)
    {
        return Err(Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: code::RATE_LIMITED,
            message: "too many requests for this token subject; retry after the Retry-After \
                      seconds"
                .to_owned(),
            outcome: Outcome::RateLimited,
            retry_after: Some(wait),
        });
    }
    Ok(())
}

fn rejected(status: StatusCode, code: &'static str, message: &str) -> Refusal {
    Refusal {
        status,
        code,
        message: message.to_owned(),
        outcome: Outcome::Rejected,
        retry_after: None,
    }
}

/// The body, refused when its declared or actual size is over `limits.body_bytes`.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &LimitsSettings,
) -> Checked<web::Bytes> {
    let too_large = || {
        rejected(
            StatusCode::PAYLOAD_TOO_LARGE,
            code::LIMIT_EXCEEDED,
            &format!(
                "the request body is larger than {} bytes (limits.body_bytes)",
                limits.body_bytes
            ),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_bytes as u64) {
        return Err(too_large());
    }
    match payload.to_bytes_limited(limits.body_bytes).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(rejected(
            StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            "the request body could not be read",
        )),
        Err(_) => Err(too_large()),
    }
}

/// One GraphQL request as JSON; a batch (a JSON array) is refused.
fn parse_request(body: &[u8]) -> Checked<async_graphql::Request> {
    let bad = |message: String| rejected(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message);
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Array(_)) => Err(bad(
            "batched requests are not accepted; send one operation per request".into(),
        )),
        Ok(value) => {
            serde_json::from_value(value).map_err(|e| bad(format!("not a GraphQL request: {e}")))
        }
        Err(e) => Err(bad(format!("malformed JSON: {e}"))),
    }
}

/// The document's limits, before and after parsing; the operation it executes. A document that
/// does not parse is left to async-graphql, which reports it as usual.
fn check_document(
    request: &mut async_graphql::Request,
    limits: &LimitsSettings,
) -> Checked<Operation> {
    let limit_exceeded =
        |message: &str| rejected(StatusCode::BAD_REQUEST, code::LIMIT_EXCEEDED, message);
    if let Err(limits::Exceeded(message)) = limits::check_text(&request.query, limits) {
        return Err(limit_exceeded(&message));
    }
    let requested = request.operation_name.clone();
    match request.parsed_query() {
        Ok(document) => {
            if let Err(limits::Exceeded(message)) = limits::check_expansion(document, limits) {
                return Err(limit_exceeded(&message));
            }
            Ok(Operation {
                name: operation_name(document, requested.as_deref()),
                query: is_query(document, requested.as_deref()),
            })
        }
        Err(_) => Ok(Operation {
            name: None,
            query: false,
        }),
    }
}

/// Whether the operation the request executes is a query: the one operation, or the one named.
fn is_query(document: &ExecutableDocument, requested: Option<&str>) -> bool {
    let executed = match &document.operations {
        DocumentOperations::Single(operation) => Some(operation),
        DocumentOperations::Multiple(operations) => match requested {
            Some(name) => operations
                .iter()
                .find(|(k, _)| k.as_str() == name)
                .map(|(_, operation)| operation),
            None if operations.len() == 1 => operations.values().next(),
            None => None,
        },
    };
    executed.is_some_and(|operation| operation.node.ty == OperationType::Query)
}

/// The write position sent back in `X-Hub-Lsn`, checked.
fn sent_lsn(req: &HttpRequest) -> Checked<Option<Lsn>> {
    let Some(value) = req.headers().get(LSN_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .map_err(|_| format!("the {LSN_HEADER} header is not text"))
        .and_then(|text| {
            text.parse::<Lsn>()
                .map_err(|e| format!("{LSN_HEADER}: {e}"))
        })
        .map(Some)
        .map_err(|message| rejected(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message))
}

/// The name of the operation the request executes, when it has one.
fn operation_name(document: &ExecutableDocument, requested: Option<&str>) -> Option<String> {
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

/// The purpose stated in `X-Access-Purpose`, checked.
fn stated_purpose(req: &HttpRequest) -> Checked<Option<String>> {
    let stated = req
        .headers()
        .get(PURPOSE_HEADER)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    purpose_from_header(stated)
        .map_err(|message| rejected(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message))
}
