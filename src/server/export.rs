//! `GET /export/{traces|seizures|trainings|fundingAwards}`: every row of a list the caller may
//! read, as CSV or NDJSON, streamed.
//!
//! The request meets, in order: the list's name (404), the token (401), the subject's rate (429),
//! the purpose header (400), the query parameters (`format`, `filter`, `orderBy`; 400 naming the
//! one that is wrong), the format (`?format=csv|ndjson`, else `Accept`: `text/csv`,
//! `application/x-ndjson`; 406 when the client accepts neither) and then the store's door: the
//! caller's rows (403 FORBIDDEN naming the entity for a role that reads only aggregates of it, or
//! nothing), widened by the grants in force, narrowed to its own agency's rows without a stated
//! purpose (said in `X-Withheld-Rows: PURPOSE_REQUIRED`), its withheld fields blank (named in
//! `X-Withheld-Fields`).
//!
//! The rows are read by keyset, [`CHUNK_ROWS`] at a time in the list's order, and each chunk is
//! written to the response when the connection takes it: actix polls the body only as fast as the
//! client reads, so a slow client slows the reads and the hub holds one chunk whatever the size of
//! the export. No connection is held between chunks. Each chunk's statements run within
//! `limits.request_timeout_secs` (and stop when the client goes away); the download as a whole has
//! no time limit.
//!
//! One audit event per export records the rows handed to the connection: written when the last
//! chunk has gone (outcome `ok`; the stream ends only once it is committed, and a failure to
//! record it aborts the response so the client sees an incomplete download), or, when the client
//! goes away or a read fails midway, as an `error` with the rows sent until then.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use entity::{funding_award, seizure, trace, training_event};
use futures_util::stream;
use sea_orm::DatabaseConnection;

use super::admission::Media;
use super::{AppState, admission, execution, request_id};
use crate::audit::{self, Appender, NewEvent};
use crate::graphql::errors::code;
use crate::graphql::export::{self, Exported, Format, Writer};
use crate::policy::Access;
use crate::store::budget::{self, Budget};
use crate::store::door::Scan;
use crate::telemetry::{self, Outcome};

/// The rows one keyset read of an export takes.
pub(crate) const CHUNK_ROWS: u64 = 500;

/// The response header naming the fields the caller's policy withholds (blank in every row).
pub(crate) const WITHHELD_FIELDS: &str = "x-withheld-fields";
/// The response header saying other agencies' rows were left out for want of a stated purpose.
pub(crate) const WITHHELD_ROWS: &str = "x-withheld-rows";

/// `GET /export/{list}`.
pub(super) async fn export(
    req: HttpRequest,
    list: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match list.as_str() {
        "traces" => run::<trace::Entity>(&req, &state).await,
        "seizures" => run::<seizure::Entity>(&req, &state).await,
        "trainings" => run::<training_event::Entity>(&req, &state).await,
        "fundingAwards" => run::<funding_award::Entity>(&req, &state).await,
        other => error_response(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            &format!(
                "there is no export of {other:?}; the exports are traces, seizures, trainings \
                 and fundingAwards"
            ),
        ),
    }
}

/// What the query string asks for.
struct Asked<E: Exported>
where
    E::Model: Sync,
{
    format: Option<Format>,
    filter: Option<E::Filter>,
    order: Vec<(E::OrderField, bool)>,
}

fn bad_request(message: &str) -> HttpResponse {
    error_response(StatusCode::BAD_REQUEST, code::BAD_USER_INPUT, message)
}

/// Reads `format`, `filter` and `orderBy`; anything else, or any of them twice, is refused.
fn parameters<E>(req: &HttpRequest) -> Result<Asked<E>, String>
where
    E: Exported,
    E::Model: Sync,
{
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| format!("the query string cannot be read: {e}"))?
        .into_inner();
    let mut asked = Asked::<E> {
        format: None,
        filter: None,
        order: Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &pairs {
        if seen.contains(&name.as_str()) {
            return Err(format!("the parameter {name} is given more than once"));
        }
        seen.push(name);
        match name.as_str() {
            "format" => {
                asked.format = Some(match value.as_str() {
                    "csv" => Format::Csv,
                    "ndjson" => Format::Ndjson,
                    other => {
                        return Err(format!(
                            "format: {other:?} is not a format of exports; use csv or ndjson"
                        ));
                    }
                });
            }
            "filter" => asked.filter = Some(export::filter::<E>(value)?),
            "orderBy" => asked.order = export::order::<E>(value)?,
            other => {
                return Err(format!(
                    "{other:?} is not a parameter of exports; they take format, filter and orderBy"
                ));
            }
        }
    }
    Ok(asked)
}

/// The format the `Accept` header asks for: the acceptable media range of highest quality (the
/// first of equals) that is CSV (`text/csv`, `text/*`, `*/*`) or NDJSON (`application/x-ndjson`,
/// `application/ndjson`, `application/*`). CSV without the header; `None` when it accepts neither.
fn accepted(req: &HttpRequest) -> Option<Format> {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Some(Format::Csv);
    };
    let accept = accept.to_str().ok()?;
    let mut ranges: Vec<(f32, usize, Format)> = Vec::new();
    for (position, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = match media.as_str() {
            "text/csv" | "text/*" | "*/*" => Format::Csv,
            "application/x-ndjson" | "application/ndjson" | "application/*" => Format::Ndjson,
            _ => continue,
        };
        if quality > 0.0 {
            ranges.push((quality, position, format));
        }
    }
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges.first().map(|(_, _, format)| *format)
}

async fn run<E>(req: &HttpRequest, state: &AppState) -> HttpResponse
where
    E: Exported,
    E::Model: Sync + Send,
{
    let started = Instant::now();
    let correlation = req
        .extensions()
        .get::<request_id::CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let operation = format!("export {}", E::LIST);
    let refused = |caller: &Access, response: HttpResponse| {
        execution::audit_refusal(state, caller, Some(&operation), None, &correlation);
        telemetry::record_request(Some(&operation), Outcome::Rejected, started.elapsed());
        response
    };
    let access = match admission::admit_export(req, state).await {
        Ok(access) => access,
        Err(refusal) => {
            if refusal.outcome == Outcome::Rejected
                && let Some(caller) = &refusal.caller
            {
                execution::audit_refusal(state, caller, Some(&operation), None, &correlation);
            }
            telemetry::record_request(Some(&operation), refusal.outcome, started.elapsed());
            return refusal.response;
        }
    };
    let asked = match parameters::<E>(req) {
        Ok(asked) => asked,
        Err(message) => return refused(&access, bad_request(&message)),
    };
    let Some(format) = asked.format.or_else(|| accepted(req)) else {
        return refused(
            &access,
            error_response(
                StatusCode::NOT_ACCEPTABLE,
                code::BAD_USER_INPUT,
                "an export is text/csv or application/x-ndjson: accept one of them, or ask \
                 with ?format=csv or ?format=ndjson",
            ),
        );
    };
    // The grants in force now, as for a GraphQL request.
    let access = match state
        .grants
        .in_force_for(&state.db, access.role(), chrono::Utc::now())
        .await
    {
        Ok(grants) => access.with_grants(grants),
        Err(error) => return failed(state, &access, &operation, &correlation, &error).await,
    };
    let scan = match Scan::<E>::new(&access, asked.filter.as_ref(), &asked.order) {
        Ok(scan) => scan,
        Err(error) => return failed(state, &access, &operation, &correlation, &error).await,
    };
    let writer = Writer::<E>::new(&access, format);
    let head = match writer.head() {
        Ok(head) => head,
        Err(message) => {
            let error = crate::error::Error::Unexpected(anyhow::anyhow!(message));
            return failed(state, &access, &operation, &correlation, &error).await;
        }
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}.{}\"",
                E::LIST,
                format.extension()
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    let withheld_fields = writer.withheld_fields();
    if !withheld_fields.is_empty() {
        response.insert_header((WITHHELD_FIELDS, withheld_fields.join(", ")));
    }
    if access.trail.snapshot().withheld {
        response.insert_header((WITHHELD_ROWS, crate::graphql::execute::PURPOSE_REQUIRED));
    }
    let timeout_secs = state.limits.request_timeout_secs;
    let exporting = Exporting::<E> {
        scan,
        writer,
        db: state.db.clone(),
        head: Some(head),
        chunk_limit: (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs)),
        audit: Some(Audit {
            appender: state.audit.clone(),
            access,
            operation,
            correlation,
            started,
            sent: 0,
        }),
        _entity: PhantomData,
    };
    response.streaming(stream::unfold(exporting, Exporting::next))
}

/// Answers a refusal or failure of the door before any row was read, and records it.
async fn failed(
    state: &AppState,
    access: &Access,
    operation: &str,
    correlation: &str,
    error: &crate::error::Error,
) -> HttpResponse {
    use crate::error::Error;
    let (status, code, message, outcome) = match error {
        Error::Forbidden(reason) => (
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            reason.clone(),
            audit::Outcome::Denied,
        ),
        Error::Invalid { field, reason } => (
            StatusCode::BAD_REQUEST,
            code::BAD_USER_INPUT,
            format!("filter: {field} {reason}"),
            audit::Outcome::Error,
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "the database is unavailable; retry later".to_owned(),
            audit::Outcome::Error,
        ),
        other => {
            tracing::error!(%correlation, error = %other, "an export failed before its first row");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                format!("the export failed; quote correlation id {correlation}"),
                audit::Outcome::Error,
            )
        }
    };
    let trail = access.trail.snapshot();
    let event = NewEvent::of(access, operation, outcome, correlation).touching_trail(&trail, 0);
    if let Err(error) = state.audit.append(event).await {
        tracing::error!(%correlation, error = %error, "cannot record the audit event of a refused export");
    }
    telemetry::record_request(Some(operation), Outcome::Rejected, Duration::ZERO);
    error_response(status, code, &message)
}

/// The audit event of an export under way: recorded once, when the stream ends or is dropped.
struct Audit {
    appender: Appender,
    access: Access,
    operation: String,
    correlation: String,
    started: Instant,
    /// The rows handed to the connection so far.
    sent: u64,
}

impl Audit {
    fn event(&self, outcome: audit::Outcome) -> NewEvent {
        let trail = self.access.trail.snapshot();
        NewEvent::of(&self.access, &self.operation, outcome, &self.correlation)
            .touching_trail(&trail, i64::try_from(self.sent).unwrap_or(i64::MAX))
    }

    fn finished(&self, outcome: Outcome) {
        let elapsed = self.started.elapsed();
        telemetry::record_request(Some(&self.operation), outcome, elapsed);
        tracing::info!(
            operation = %self.operation,
            outcome = outcome.as_str(),
            rows = self.sent,
            elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "export"
        );
    }
}

/// An export being streamed: the scan, the writer and the audit event still to record.
struct Exporting<E: Exported>
where
    E::Model: Sync,
{
    scan: Scan<E>,
    writer: Writer<E>,
    db: DatabaseConnection,
    /// What goes before the first row (CSV's header row), until sent.
    head: Option<Vec<u8>>,
    /// How long one chunk's reads may take (`limits.request_timeout_secs`).
    chunk_limit: Option<Duration>,
    /// `None` once recorded.
    audit: Option<Audit>,
    _entity: PhantomData<E>,
}

type Chunk = Result<web::Bytes, std::io::Error>;

impl<E> Exporting<E>
where
    E: Exported,
    E::Model: Sync + Send,
{
    /// The next piece of the body; `None` once the audit event is committed.
    async fn next(mut self) -> Option<(Chunk, Self)> {
        let audit = self.audit.as_ref()?;
        let access = audit.access.clone();
        loop {
            let rows = match self.read_chunk(&access).await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(error = %error, "an export's read failed; the download is cut");
                    return self.abort("the export could not read its next rows");
                }
            };
            let mut body = self.head.take().unwrap_or_default();
            if rows.is_empty() {
                if !body.is_empty() {
                    return Some((Ok(body.into()), self));
                }
                return self.finish().await;
            }
            match self.writer.rows(&rows) {
                Ok(written) => body.extend_from_slice(&written),
                Err(message) => {
                    tracing::error!(%message, "an export's rows could not be written");
                    return self.abort("the export could not write its rows");
                }
            }
            if let Some(audit) = self.audit.as_mut() {
                audit.sent += rows.len() as u64;
            }
            if !body.is_empty() {
                return Some((Ok(body.into()), self));
            }
        }
    }

    /// The next chunk of rows, its statements within the chunk's time and stopped if this future
    /// is dropped (the client went away).
    async fn read_chunk(&mut self, access: &Access) -> crate::error::Result<Vec<E::Model>> {
        let budget = Budget::new(&self.db, self.chunk_limit);
        let stop = budget.stop_on_drop();
        let read = budget::within(budget, self.scan.next_chunk(&self.db, access, CHUNK_ROWS));
        let rows = match self.chunk_limit {
            Some(limit) => match tokio::time::timeout(limit, read).await {
                Ok(rows) => rows,
                Err(_) => Err(crate::error::Error::Unexpected(anyhow::anyhow!(
                    "a chunk of the export took longer than limits.request_timeout_secs"
                ))),
            },
            None => read.await,
        };
        stop.finish();
        rows
    }

    /// Records the export's event once every row has gone, then ends the body; if the event
    /// cannot be recorded, the body is cut instead of ended.
    async fn finish(mut self) -> Option<(Chunk, Self)> {
        let audit = self.audit.take()?;
        match audit.appender.append(audit.event(audit::Outcome::Ok)).await {
            Ok(_) => {
                audit.finished(Outcome::Ok);
                None
            }
            Err(error) => {
                tracing::error!(correlation = %audit.correlation, error = %error, "cannot record an export's audit event; the download is cut");
                audit.finished(Outcome::Error);
                Some((
                    Err(std::io::Error::other("the export could not be audited")),
                    self,
                ))
            }
        }
    }

    /// Ends the body with an error (the client sees an incomplete download), recording the rows
    /// sent until then.
    fn abort(mut self, why: &'static str) -> Option<(Chunk, Self)> {
        if let Some(audit) = self.audit.take() {
            record_in_background(&audit, audit::Outcome::Error);
            audit.finished(Outcome::Error);
        }
        Some((Err(std::io::Error::other(why)), self))
    }
}

impl<E: Exported> Drop for Exporting<E>
where
    E::Model: Sync,
{
    /// The client went away (or the server is stopping) before the export ended: its event
    /// records the rows handed to the connection until then, as an `error`.
    fn drop(&mut self) {
        if let Some(audit) = self.audit.take() {
            record_in_background(&audit, audit::Outcome::Error);
            audit.finished(Outcome::Error);
        }
    }
}

fn record_in_background(audit: &Audit, outcome: audit::Outcome) {
    let appender = audit.appender.clone();
    let event = audit.event(outcome);
    tokio::spawn(async move {
        if let Err(error) = appender.append(event).await {
            tracing::error!(error = %error, "cannot record the audit event of a cut export");
        }
    });
}

/// An error answer of an export: a GraphQL-style error body as `application/json`.
fn error_response(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    admission::error_response(Media::Json, status, code, message)
}
