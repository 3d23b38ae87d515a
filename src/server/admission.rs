//! Admission of a `POST /graphql` or `GET /graphql` request, before any work on the data: the
//! response media type the client accepts (406), the JSON content type of a POST (415), the
//! token (401), the subject's rate (429), the body or query string and its size (413; 400 for
//! malformed JSON, a batch or no document), the persisted operation it names
//! (`persisted.rs`: `PERSISTED_QUERY_NOT_FOUND`, `PERSISTED_QUERY_HASH_MISMATCH`,
//! `PERSISTED_QUERY_NOT_ALLOWED`), the document's size, tokens and fragment expansion (400,
//! `LIMIT_EXCEEDED`), a mutation over GET (405, `Allow: POST`) and the stated purpose (400). The
//! token is verified once, here; what passes carries the verified caller on to execution.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use serde_json::Value;

use super::persisted::{self, PersistedQuery, Source};
use super::{AppState, limits, retry_after};
use crate::audit::document_hash;
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

/// The media type of a response, as the client's `Accept` chose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Media {
    /// `application/json`: what clients that do not ask for more get; 200 for every
    /// well-formed request, as before the GraphQL-over-HTTP media type existed.
    Json,
    /// `application/graphql-response+json`: the status says whether execution started (200) or
    /// the request failed before it (4xx, with no `data` in the body).
    GraphqlResponse,
}

impl Media {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Media::Json => "application/json",
            Media::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }
}

/// How the request came: `GET` with its parameters in the query string, or `POST` with a body.
pub(crate) enum Transport {
    Get,
    Post(web::Payload),
}

/// A request admitted for execution.
pub(super) struct Admitted {
    /// The verified caller as its token names it, before its stated purpose.
    pub caller: Access,
    /// The caller with its stated purpose: what the operation executes as.
    pub access: Access,
    pub request: async_graphql::Request,
    /// The name of the operation the request executes, when it has one.
    pub operation: Option<String>,
    /// The media type of the answer.
    pub media: Media,
    /// The SHA-256 of the document it runs.
    pub document_hash: String,
    /// Where the document came from.
    pub source: Source,
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
    /// The operation's name and its document's hash, as far as they were known.
    pub operation: Option<String>,
    pub document_hash: Option<String>,
}

/// What admission learnt of the document before it refused it, for the audit event.
#[derive(Default)]
struct Known {
    operation: Option<String>,
    document_hash: Option<String>,
}

/// Runs every admission check in order; the first that fails refuses the request.
pub(super) async fn admit(
    req: &HttpRequest,
    transport: Transport,
    state: &AppState,
) -> Result<Admitted, Refused> {
    // Verified before the media types are checked (which still answer first), so that a 406 or
    // 415 of a verified caller is recorded as that caller's refusal.
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let verified = state
        .verifier
        .verify_header(header)
        .await
        .map(|caller| Access::new(caller, state.policy.clone()));
    let refused_early = |response, verified: Result<Access, AuthError>| Refused {
        response,
        outcome: Outcome::Rejected,
        caller: verified.ok(),
        operation: None,
        document_hash: None,
    };
    let Some(media) = negotiate(req) else {
        let response = error_response(
            Media::Json,
            StatusCode::NOT_ACCEPTABLE,
            code::NOT_ACCEPTABLE,
            "the Accept header allows neither application/graphql-response+json nor \
             application/json, the media types GraphQL responses are sent as",
        );
        return Err(refused_early(response, verified));
    };
    if matches!(transport, Transport::Post(_)) && !is_json(req) {
        let response = error_response(
            media,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::BAD_USER_INPUT,
            "send the GraphQL request as JSON with Content-Type: application/json",
        );
        return Err(refused_early(response, verified));
    }
    let caller = match verified {
        Ok(caller) => caller,
        Err(error) => {
            return Err(Refused {
                response: unauthenticated(media, &error),
                outcome: Outcome::Unauthenticated,
                caller: None,
                operation: None,
                document_hash: None,
            });
        }
    };
    let mut known = Known::default();
    match admit_caller(req, transport, state, &caller, &mut known).await {
        Ok(checked) => Ok(Admitted {
            access: caller.clone().with_purpose(checked.purpose),
            caller,
            request: checked.request,
            operation: checked.operation,
            media,
            document_hash: checked.document_hash,
            source: checked.source,
            query: checked.query,
            lsn: checked.lsn,
        }),
        Err(refusal) => Err(Refused {
            outcome: refusal.outcome,
            response: refusal.response(media),
            caller: Some(caller),
            operation: known.operation,
            document_hash: known.document_hash,
        }),
    }
}

/// Why a check after the token refused the request.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    outcome: Outcome,
    /// For a 429 or 503: when the subject may try again.
    retry_after: Option<Duration>,
    /// For a 405: the methods that are allowed.
    allow: Option<&'static str>,
}

impl Refusal {
    fn response(&self, media: Media) -> HttpResponse {
        // A request refused before execution is a 4xx with the GraphQL response media type,
        // even where `application/json` keeps 200 (an unknown persisted query, as Apollo has it).
        let status = match (media, self.status) {
            (Media::GraphqlResponse, StatusCode::OK) => StatusCode::BAD_REQUEST,
            (_, status) => status,
        };
        let mut response = error_response(media, status, self.code, &self.message);
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, header::HeaderValue::from_static(allow));
        }
        match self.retry_after {
            Some(wait) => retry_after(response, wait),
            None => response,
        }
    }
}

type Checked<T> = Result<T, Refusal>;

/// What the checks after the token found.
struct CallerChecked {
    request: async_graphql::Request,
    operation: Option<String>,
    purpose: Option<String>,
    document_hash: String,
    source: Source,
    query: bool,
    lsn: Option<Lsn>,
}

/// The checks after the token: rate, body or parameters, persisted operation, document, method
/// and purpose; then a document sent with its hash is registered.
async fn admit_caller(
    req: &HttpRequest,
    transport: Transport,
    state: &AppState,
    caller: &Access,
    known: &mut Known,
) -> Checked<CallerChecked> {
    check_rate(state, &caller.caller.subject)?;
    let limits = &state.limits;
    let is_get = matches!(transport, Transport::Get);
    let (mut request, document_id) = match transport {
        Transport::Get => from_query_string(req)?,
        Transport::Post(payload) => {
            let body = read_body(req, payload, limits).await?;
            parse_request(&body)?
        }
    };
    let persisted = persisted::persisted_query(&request).map_err(bad_request)?;
    // A refusal names the document it was sent, or the one its hash names.
    known.document_hash = match (&persisted, request.query.is_empty()) {
        (_, false) => Some(document_hash(&request.query)),
        (Some(persisted), true) => Some(persisted.hash.clone()),
        (None, true) => None,
    };
    let mut source = resolve(state, &mut request, persisted.as_ref(), document_id).await?;
    let hash = document_hash(&request.query);
    known.document_hash = Some(hash.clone());
    let (operation, kind) = check_document(&mut request, limits)?;
    known.operation = operation.clone();
    if is_get && kind.is_some_and(|kind| kind != OperationType::Query) {
        return Err(Refusal {
            allow: Some("POST"),
            ..rejected(
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED,
                "only queries may be sent with GET; send a mutation with POST",
            )
        });
    }
    let purpose = stated_purpose(req)?;
    let lsn = sent_lsn(req)?;
    if source == Source::Registered {
        // Only a document that parsed and passed the limits is kept.
        if kind.is_some() {
            register(state, &hash, &request.query).await;
        } else {
            source = Source::Document;
        }
    }
    Ok(CallerChecked {
        request,
        operation,
        purpose,
        document_hash: hash,
        source,
        query: kind == Some(OperationType::Query),
        lsn,
    })
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

/// Keeps a document sent with its hash. Best effort: when it cannot be stored the request still
/// runs, and the client's next request by hash alone is answered `PERSISTED_QUERY_NOT_FOUND`.
async fn register(state: &AppState, hash: &str, document: &str) {
    let stored =
        crate::store::persisted::register(&state.db, hash, document, state.limits.persisted_max)
            .await;
    if let Err(error) = stored {
        tracing::warn!(%error, "cannot register an automatic persisted query");
    }
}

/// The document the request runs, from its text, the manifest or the automatic persisted
/// queries; allow-list mode refuses anything the manifest does not hold.
async fn resolve(
    state: &AppState,
    request: &mut async_graphql::Request,
    persisted: Option<&PersistedQuery>,
    document_id: Option<String>,
) -> Checked<Source> {
    let limits = &state.limits;
    let manifest = state.manifest.as_deref();
    let has_text = !request.query.is_empty();
    let not_allowed = || {
        rejected(
            StatusCode::BAD_REQUEST,
            code::PERSISTED_QUERY_NOT_ALLOWED,
            "only the operations of the persisted-operation manifest run on this hub \
             (limits.persisted_only); send a manifest operation's id or hash",
        )
    };
    if let Some(id) = document_id {
        if has_text {
            return Err(bad_request(
                "send either a document (query) or the id of a persisted operation \
                 (documentId), not both"
                    .to_owned(),
            ));
        }
        return match manifest.and_then(|m| m.by_id(&id)) {
            Some(body) => {
                request.query = body.to_string();
                Ok(Source::Manifest)
            }
            None if limits.persisted_only => Err(not_allowed()),
            None => Err(Refusal {
                outcome: Outcome::PersistedQueryNotFound,
                ..rejected(
                    StatusCode::BAD_REQUEST,
                    code::PERSISTED_QUERY_NOT_FOUND,
                    "no persisted operation has this documentId",
                )
            }),
        };
    }
    match persisted {
        Some(persisted) if !has_text => {
            if let Some(body) = manifest.and_then(|m| m.by_id(&persisted.hash)) {
                request.query = body.to_string();
                return Ok(Source::Manifest);
            }
            if limits.persisted_only {
                return Err(not_allowed());
            }
            if limits.persisted_max == 0 {
                return Err(not_supported());
            }
            match crate::store::persisted::find(&state.db, &persisted.hash).await {
                Ok(Some(document)) => {
                    request.query = document;
                    Ok(Source::Persisted)
                }
                // Apollo clients recognise the message as well as the code.
                Ok(None) => Err(Refusal {
                    outcome: Outcome::PersistedQueryNotFound,
                    ..rejected(
                        StatusCode::OK,
                        code::PERSISTED_QUERY_NOT_FOUND,
                        "PersistedQueryNotFound",
                    )
                }),
                Err(error) => Err(store_failure(error)),
            }
        }
        Some(persisted) => {
            let actual = document_hash(&request.query);
            if actual != persisted.hash {
                return Err(rejected(
                    StatusCode::BAD_REQUEST,
                    code::PERSISTED_QUERY_HASH_MISMATCH,
                    &format!(
                        "provided sha does not match query: extensions.persistedQuery.sha256Hash \
                         is {}, but the document's SHA-256 is {actual}",
                        persisted.hash
                    ),
                ));
            }
            if manifest.is_some_and(|m| m.has_hash(&actual)) {
                return Ok(Source::Manifest);
            }
            if limits.persisted_only {
                return Err(not_allowed());
            }
            if limits.persisted_max == 0 {
                return Err(not_supported());
            }
            let most = limits.persisted_document_bytes.min(limits.document_bytes);
            if request.query.len() > most {
                return Err(rejected(
                    StatusCode::BAD_REQUEST,
                    code::LIMIT_EXCEEDED,
                    &format!(
                        "the document is {} bytes; at most {most} are kept as a persisted query \
                         (limits.persisted_document_bytes)",
                        request.query.len()
                    ),
                ));
            }
            Ok(Source::Registered)
        }
        None if !has_text => Err(bad_request(
            "no GraphQL document: send it as `query`, or name a persisted one with \
             extensions.persistedQuery.sha256Hash or documentId"
                .to_owned(),
        )),
        None if limits.persisted_only => {
            if manifest.is_some_and(|m| m.has_hash(&document_hash(&request.query))) {
                Ok(Source::Manifest)
            } else {
                Err(not_allowed())
            }
        }
        None => Ok(Source::Document),
    }
}

fn not_supported() -> Refusal {
    rejected(
        StatusCode::BAD_REQUEST,
        code::PERSISTED_QUERY_NOT_SUPPORTED,
        "PersistedQueryNotSupported: automatic persisted queries are turned off on this hub \
         (limits.persisted_max = 0); send the document as `query`",
    )
}

/// The persisted queries' table could not be read.
fn store_failure(error: crate::error::Error) -> Refusal {
    match error {
        crate::error::Error::Unavailable(reason) => Refusal {
            outcome: Outcome::Unavailable,
            retry_after: Some(Duration::from_secs(1)),
            ..rejected(StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE, reason)
        },
        other => {
            tracing::error!(error = %other, "cannot read the automatic persisted queries");
            rejected(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "the persisted query could not be read",
            )
        }
    }
}

/// A GraphQL-shaped error response for failures before execution, in the negotiated media type.
pub(crate) fn error_response(
    media: Media,
    status: StatusCode,
    code: &str,
    message: &str,
) -> HttpResponse {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    HttpResponse::build(status)
        .content_type(media.content_type())
        .body(body.to_string())
}

/// The media type to answer in, from `Accept`: `application/graphql-response+json` when the
/// client names it and prefers it at least as much as `application/json`; else
/// `application/json` when the client accepts it (or sends no `Accept`); `None` when it
/// accepts neither.
pub(crate) fn negotiate(req: &HttpRequest) -> Option<Media> {
    let ranges = accept_ranges(req);
    if ranges.is_empty() {
        return Some(Media::Json);
    }
    let json = quality(&ranges, "application", "json");
    let graphql = quality(&ranges, "application", "graphql-response+json");
    let named = ranges
        .iter()
        .any(|r| r.kind == "application" && r.subtype == "graphql-response+json" && r.q > 0.0);
    if named && graphql >= json {
        Some(Media::GraphqlResponse)
    } else if json > 0.0 {
        Some(Media::Json)
    } else if graphql > 0.0 {
        Some(Media::GraphqlResponse)
    } else {
        None
    }
}

/// Whether the client names `text/html` among what it accepts: a browser asking for a page.
pub(crate) fn accepts_html(req: &HttpRequest) -> bool {
    accept_ranges(req)
        .iter()
        .any(|r| r.kind == "text" && r.subtype == "html" && r.q > 0.0)
}

/// One media range of `Accept`.
struct Range {
    kind: String,
    subtype: String,
    q: f32,
}

fn accept_ranges(req: &HttpRequest) -> Vec<Range> {
    let mut ranges = Vec::new();
    for value in req.headers().get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let Some((kind, subtype)) = media.split_once('/') else {
                continue;
            };
            let mut q = 1.0f32;
            for parameter in parts {
                if let Some((name, value)) = parameter.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = value.trim().parse().unwrap_or(0.0);
                }
            }
            ranges.push(Range {
                kind: kind.trim().to_owned(),
                subtype: subtype.trim().to_owned(),
                q: q.clamp(0.0, 1.0),
            });
        }
    }
    ranges
}

/// The quality the client gives a media type: that of the most specific range matching it.
fn quality(ranges: &[Range], kind: &str, subtype: &str) -> f32 {
    ranges
        .iter()
        .filter_map(|r| {
            let specificity = match (r.kind.as_str(), r.subtype.as_str()) {
                (k, s) if k == kind && s == subtype => 3,
                (k, "*") if k == kind => 2,
                ("*", "*") => 1,
                _ => return None,
            };
            Some((specificity, r.q))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map_or(0.0, |(_, q)| q)
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

fn unauthenticated(media: Media, error: &AuthError) -> HttpResponse {
    let mut response = error_response(
        media,
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
            allow: None,
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
        allow: None,
    }
}

fn bad_request(message: String) -> Refusal {
    rejected(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, &message)
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

/// One GraphQL request as JSON, with the id of a persisted operation if it names one
/// (`documentId`, or `id`); a batch (a JSON array) is refused.
fn parse_request(body: &[u8]) -> Checked<(async_graphql::Request, Option<String>)> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(_)) => Err(bad_request(
            "batched requests are not accepted; send one operation per request".into(),
        )),
        Ok(value) => request_from_json(value),
        Err(e) => Err(bad_request(format!("malformed JSON: {e}"))),
    }
}

/// The request of a `GET`: `query`, `operationName`, `variables` and `extensions` (these two as
/// JSON text) and `documentId` from the query string.
fn from_query_string(req: &HttpRequest) -> Checked<(async_graphql::Request, Option<String>)> {
    let params = web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map_err(|e| bad_request(format!("the query string cannot be read: {e}")))?
        .into_inner();
    let mut request = serde_json::Map::new();
    for name in ["query", "operationName", "documentId", "id"] {
        if let Some(value) = params.get(name) {
            request.insert(name.to_owned(), Value::String(value.clone()));
        }
    }
    for name in ["variables", "extensions"] {
        if let Some(text) = params.get(name).filter(|t| !t.trim().is_empty()) {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                bad_request(format!("the {name} parameter must be a JSON object: {e}"))
            })?;
            request.insert(name.to_owned(), value);
        }
    }
    request_from_json(Value::Object(request))
}

fn request_from_json(value: Value) -> Checked<(async_graphql::Request, Option<String>)> {
    let Value::Object(mut fields) = value else {
        return Err(bad_request(
            "not a GraphQL request: expected a JSON object with a query".to_owned(),
        ));
    };
    let mut document_id = None;
    for name in ["documentId", "id"] {
        match fields.remove(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(id)) if document_id.is_none() => document_id = Some(id),
            Some(Value::String(_)) => {
                return Err(bad_request(
                    "send the persisted operation's id once, as documentId".to_owned(),
                ));
            }
            Some(_) => return Err(bad_request(format!("{name} must be a string"))),
        }
    }
    if matches!(fields.get("variables"), Some(v) if !v.is_object() && !v.is_null()) {
        return Err(bad_request(
            "not a GraphQL request: variables must be a JSON object".to_owned(),
        ));
    }
    let request = serde_json::from_value(Value::Object(fields))
        .map_err(|e| bad_request(format!("not a GraphQL request: {e}")))?;
    Ok((request, document_id))
}

/// The document's limits, before and after parsing; the name and type of the operation it
/// executes (no type when the document does not parse, or names no operation it holds: that is
/// left to async-graphql, which reports it as usual).
fn check_document(
    request: &mut async_graphql::Request,
    limits: &LimitsSettings,
) -> Checked<(Option<String>, Option<OperationType>)> {
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
            Ok(operation(document, requested.as_deref()))
        }
        Err(_) => Ok((None, None)),
    }
}

/// The name of the operation the request executes, when it has one.
pub(super) fn operation_name(
    document: &ExecutableDocument,
    requested: Option<&str>,
) -> Option<String> {
    operation(document, requested).0
}

/// The name (when it has one) and type of the operation the request executes.
fn operation(
    document: &ExecutableDocument,
    requested: Option<&str>,
) -> (Option<String>, Option<OperationType>) {
    match &document.operations {
        DocumentOperations::Single(operation) => (None, Some(operation.node.ty)),
        DocumentOperations::Multiple(operations) => {
            let chosen = match requested {
                Some(name) => operations.iter().find(|(k, _)| k.as_str() == name),
                None if operations.len() == 1 => operations.iter().next(),
                None => None,
            };
            match chosen {
                Some((name, operation)) => (Some(name.to_string()), Some(operation.node.ty)),
                None => (None, None),
            }
        }
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

/// Admission of a `GET /export/{list}` request: the token (401), the subject's rate (429) and the
/// stated purpose (400). The caller comes back with its purpose; a download has no body to check.
pub(super) async fn admit_export(req: &HttpRequest, state: &AppState) -> Result<Access, Refused> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let caller = state
        .verifier
        .verify_header(header)
        .await
        .map(|caller| Access::new(caller, state.policy.clone()))
        .map_err(|error| Refused {
            response: unauthenticated(Media::Json, &error),
            outcome: Outcome::Unauthenticated,
            caller: None,
            operation: None,
            document_hash: None,
        })?;
    let checked = check_rate(state, &caller.caller.subject).and_then(|()| stated_purpose(req));
    match checked {
        Ok(purpose) => Ok(caller.with_purpose(purpose)),
        Err(refusal) => Err(Refused {
            outcome: refusal.outcome,
            response: refusal.response(Media::Json),
            caller: Some(caller),
            operation: None,
            document_hash: None,
        }),
    }
}
