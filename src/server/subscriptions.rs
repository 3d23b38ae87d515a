//! GraphQL subscriptions over WebSocket on `/graphql`: the graphql-transport-ws protocol
//! (subprotocol `graphql-transport-ws`, as the `graphql-ws` client library speaks it).
//!
//! - The connection is authenticated by its `connection_init` message, whose payload carries the
//!   token as `authorization` (`"Bearer <jwt>"`) and, optionally, a `purpose` (the
//!   `X-Access-Purpose` of queries) that every subscription of the connection states. It must
//!   come within `subscriptions.init_timeout_secs` (else 4408). A missing or invalid token closes
//!   the connection with 4403, an invalid purpose with 4400, a second `connection_init` with
//!   4429, a `subscribe` before the acknowledgement with 4401, a subscription id in use with 4409,
//!   a message that is not one of the protocol's with 4400, and a connection without the
//!   subprotocol with 4406.
//! - When the token expires the connection is closed with 4401; the client connects again with a
//!   fresh token (a second `connection_init` is not a re-authentication).
//! - Each `subscribe` counts against the subject's request rate (`limits.rate_per_second`; one
//!   over it is answered with an `error` message, `RATE_LIMITED`) and runs its operation as the
//!   caller, under the same document limits as a request, and with the grants in force; a
//!   subject holding `subscriptions.per_subject` subscriptions gets an `error` message
//!   (`LIMIT_EXCEEDED`) for one more. Each process counts
//!   its own subscriptions in memory ([`Subscribers`]), which on SQLite (one process) is the
//!   whole count; on PostgreSQL a subscription that passes that count also takes a lease in the
//!   database (`store::leases`), counted over every hub process on it, and is refused with
//!   `UNAVAILABLE` when the lease cannot be taken (never admitted uncounted).
//! - Every message the server sends waits in one buffer of `subscriptions.buffer` messages per
//!   connection. A client that lets it fill (it does not read fast enough) is closed with 1013
//!   (try again later) and its subscriptions end: memory never grows with a slow client. The
//!   close frame waits behind what the connection already holds; a client that takes nothing
//!   for `server.send_timeout_secs` is disconnected by the kernel instead (the TCP user timeout
//!   set on every connection), which frees the connection and its buffers.
//! - Every `next` and `error` message of a subscription is recorded in the audit trail first, as
//!   the caller's operation with what it delivered (entities, owners, rows) and the SHA-256 of its
//!   document; if it cannot be recorded it is not sent and the subscription ends with an error. A
//!   subscription refused before it starts (a limit, the grants unreadable) is recorded as the
//!   caller's refused operation, as a refused request is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message, Session};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

use super::AppState;
use crate::audit::{self, NewEvent};
use crate::graphql::context::RequestContext;
use crate::graphql::errors::code;
use crate::graphql::execute::{outcome, purpose_from_header};
use crate::policy::Access;
use crate::store::leases::Lease;
use crate::telemetry;

/// The subprotocol served.
pub(crate) const PROTOCOL: &str = "graphql-transport-ws";

/// How long the server waits to hand a closing message to a client that does not read, at
/// least (the connection's send timeout when longer: the kernel ends it by then).
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Why a slow client is closed.
const SLOW: &str = "the client does not read its messages fast enough";

/// How long a subscribe waits for the process's listener of record events to listen.
const LISTENER_WAIT: Duration = Duration::from_secs(5);

/// A deadline that never comes (a year), for a connection not yet acknowledged.
const FAR_SECS: u64 = 365 * 24 * 3600;

/// The close codes of graphql-transport-ws, and 1013 for a slow client.
mod close {
    pub(super) const BAD_REQUEST: u16 = 4400;
    pub(super) const UNAUTHORIZED: u16 = 4401;
    pub(super) const FORBIDDEN: u16 = 4403;
    pub(super) const SUBPROTOCOL: u16 = 4406;
    pub(super) const INIT_TIMEOUT: u16 = 4408;
    pub(super) const DUPLICATE_ID: u16 = 4409;
    pub(super) const TOO_MANY_INITS: u16 = 4429;
    pub(super) const TRY_AGAIN_LATER: u16 = 1013;
}

/// The subscriptions each subject holds in this process.
#[derive(Default)]
pub(crate) struct Subscribers {
    held: Mutex<HashMap<String, usize>>,
}

/// One subscription counted against its subject until dropped: in this process, and on
/// PostgreSQL by its lease too (released when dropped).
struct Held {
    subscribers: Arc<Subscribers>,
    subject: String,
    lease: Option<Lease>,
}

impl Subscribers {
    /// Counts one more subscription of `subject`, unless it holds `limit` already.
    fn hold(self: &Arc<Self>, subject: &str, limit: usize) -> Option<Held> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(subject.to_owned()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Held {
            subscribers: self.clone(),
            subject: subject.to_owned(),
            lease: None,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self
            .subscribers
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.subject) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.subject);
            }
        }
    }
}

/// Whether a request asks to upgrade to a WebSocket (the route guard of [`upgrade`]).
pub(crate) fn is_upgrade(ctx: &actix_web::guard::GuardContext<'_>) -> bool {
    ctx.head()
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql` with `Upgrade: websocket`: the handshake, then the connection's protocol.
pub(crate) async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == PROTOCOL);
    let (mut response, session, messages) = actix_ws::handle(&req, body)?;
    let correlation = req
        .extensions()
        .get::<super::request_id::CorrelationId>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    if !offered {
        actix_web::rt::spawn(close_with(
            session,
            close::SUBPROTOCOL,
            "Subprotocol not acceptable: use graphql-transport-ws",
            CLOSE_WAIT,
        ));
        return Ok(response);
    }
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(PROTOCOL),
    );
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        Connection::new(state, correlation)
            .serve(session, messages)
            .await;
    });
    Ok(response)
}

/// Sends a close frame, waiting at most `wait` for room behind what a client that does not read
/// has not taken yet. Counted in the metrics by its code.
async fn close_with(session: Session, code: u16, reason: &str, wait: Duration) {
    telemetry::subscription_connection_closed(code);
    let reason = CloseReason {
        code: CloseCode::Other(code),
        description: Some(reason.to_owned()),
    };
    let _ = tokio::time::timeout(wait, session.close(Some(reason))).await;
}

/// Hands one queued message to the client: `Ok(false)` when the connection is gone, an error
/// when the connection's buffer filled meanwhile (the client does not read fast enough).
async fn pass_on(session: &mut Session, text: String, slow: &Notify) -> Result<bool, Closing> {
    tokio::select! {
        sent = session.text(text) => Ok(sent.is_ok()),
        () = slow.notified() => Err(Closing::new(close::TRY_AGAIN_LATER, SLOW)),
    }
}

/// Why a connection ends.
struct Closing(u16, String);

impl Closing {
    fn new(code: u16, reason: impl Into<String>) -> Closing {
        Closing(code, reason.into())
    }
}

/// The caller of an acknowledged connection.
struct Caller {
    access: Access,
    /// When the token expires (seconds since the epoch).
    expires: Option<i64>,
}

/// What the connection's subscriptions share: where they send, and how they say the client is
/// too slow.
#[derive(Clone)]
struct Outbox {
    sender: mpsc::Sender<String>,
    slow: Arc<Notify>,
}

impl Outbox {
    /// Queues a message; a full buffer means the client does not keep up, and ends the
    /// connection. Returns whether it was queued.
    fn send(&self, message: Value) -> bool {
        match self.sender.try_send(message.to_string()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.slow.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

struct Connection {
    state: Arc<AppState>,
    correlation: String,
    caller: Option<Caller>,
    running: HashMap<String, tokio::task::JoinHandle<()>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        for task in self.running.values() {
            task.abort();
        }
    }
}

impl Connection {
    fn new(state: Arc<AppState>, correlation: String) -> Connection {
        Connection {
            state,
            correlation,
            caller: None,
            running: HashMap::new(),
        }
    }

    async fn serve(self, session: Session, messages: actix_ws::MessageStream) {
        let _open = telemetry::SubscriptionConnection::open();
        let close_wait = self
            .state
            .send_timeout
            .map_or(CLOSE_WAIT, |t| t.max(CLOSE_WAIT));
        if let Some(closing) = self.converse(session.clone(), messages).await {
            close_with(session, closing.0, &closing.1, close_wait).await;
        }
    }

    /// The protocol until the connection ends: `Some` when the server ends it, with the close
    /// code and reason to send; `None` when the client closed it or it failed.
    async fn converse(
        mut self,
        mut session: Session,
        mut messages: actix_ws::MessageStream,
    ) -> Option<Closing> {
        let settings = self.state.subscriptions.clone();
        let (sender, mut outgoing) = mpsc::channel::<String>(settings.buffer.max(1));
        let outbox = Outbox {
            sender,
            slow: Arc::new(Notify::new()),
        };
        let init_deadline = tokio::time::sleep(Duration::from_secs(settings.init_timeout_secs));
        tokio::pin!(init_deadline);
        let expiry = tokio::time::sleep(Duration::from_secs(FAR_SECS));
        tokio::pin!(expiry);
        let closing = loop {
            tokio::select! {
                () = outbox.slow.notified() => {
                    break Closing::new(close::TRY_AGAIN_LATER, SLOW);
                }
                () = &mut init_deadline, if self.caller.is_none() => {
                    break Closing::new(close::INIT_TIMEOUT, "Connection initialisation timeout");
                }
                () = &mut expiry, if self.caller.is_some() => {
                    break Closing::new(close::UNAUTHORIZED, "the token expired; connect again with a fresh token");
                }
                Some(text) = outgoing.recv() => {
                    match pass_on(&mut session, text, &outbox.slow).await {
                        Ok(true) => {}
                        Ok(false) => return None,
                        Err(closing) => break closing,
                    }
                }
                message = messages.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Ping(bytes))) => {
                            if session.pong(&bytes).await.is_err() { return None }
                            continue;
                        }
                        Some(Ok(Message::Pong(_))) => continue,
                        Some(Ok(Message::Close(_))) | None => return None,
                        Some(Ok(Message::Binary(_))) => {
                            break Closing::new(close::BAD_REQUEST, "messages are JSON text");
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => {
                            break Closing::new(close::BAD_REQUEST, format!("invalid WebSocket frame: {error}"));
                        }
                    };
                    // The message is handled (a subscribe admitted) before the next is read,
                    // while what the connection's subscriptions queue keeps going out.
                    let handled = {
                        let handling = self.handle(&text, &outbox);
                        tokio::pin!(handling);
                        loop {
                            tokio::select! {
                                handled = &mut handling => break handled,
                                Some(text) = outgoing.recv() => {
                                    match pass_on(&mut session, text, &outbox.slow).await {
                                        Ok(true) => {}
                                        Ok(false) => return None,
                                        Err(closing) => break Err(closing),
                                    }
                                }
                                () = outbox.slow.notified() => {
                                    break Err(Closing::new(close::TRY_AGAIN_LATER, SLOW));
                                }
                            }
                        }
                    };
                    match handled {
                        Ok(Some(expires)) => {
                            let now = chrono::Utc::now().timestamp();
                            let left = u64::try_from(expires.saturating_sub(now)).unwrap_or(0);
                            let left = Duration::from_secs(left.min(FAR_SECS));
                            expiry.as_mut().reset(tokio::time::Instant::now() + left);
                        }
                        Ok(None) => {}
                        Err(closing) => break closing,
                    }
                }
            }
        };
        for task in self.running.values() {
            task.abort();
        }
        Some(closing)
    }

    /// One message of the client. `Ok(Some(exp))` when it acknowledged the connection of a
    /// token expiring at `exp`.
    async fn handle(&mut self, text: &str, outbox: &Outbox) -> Result<Option<i64>, Closing> {
        let message: Value = serde_json::from_str(text)
            .map_err(|_| Closing::new(close::BAD_REQUEST, "Invalid message received: not JSON"))?;
        let kind = message.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "connection_init" => {
                if self.caller.is_some() {
                    return Err(Closing::new(
                        close::TOO_MANY_INITS,
                        "Too many initialisation requests",
                    ));
                }
                let caller = self.initialise(message.get("payload")).await?;
                let expires = caller.expires;
                self.caller = Some(caller);
                outbox.send(json!({ "type": "connection_ack" }));
                Ok(Some(expires.unwrap_or(i64::MAX)))
            }
            "ping" => {
                outbox.send(json!({ "type": "pong" }));
                Ok(None)
            }
            "pong" => Ok(None),
            "subscribe" => {
                let Some(caller) = &self.caller else {
                    return Err(Closing::new(close::UNAUTHORIZED, "Unauthorized"));
                };
                let access = caller.access.clone();
                let id = message
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        Closing::new(close::BAD_REQUEST, "Invalid message received: no id")
                    })?
                    .to_owned();
                self.running.retain(|_, task| !task.is_finished());
                if self.running.contains_key(&id) {
                    return Err(Closing::new(
                        close::DUPLICATE_ID,
                        format!("Subscriber for {id} already exists"),
                    ));
                }
                let request = message
                    .get("payload")
                    .cloned()
                    .and_then(|p| serde_json::from_value::<async_graphql::Request>(p).ok())
                    .ok_or_else(|| {
                        Closing::new(
                            close::BAD_REQUEST,
                            "Invalid message received: the payload is not a GraphQL request",
                        )
                    })?;
                // Each subscribe counts against the subject's request rate (`limits.rate_*`), so a
                // client cannot make the hub start, refuse and audit subscriptions without bound.
                if let Some(rate) = &self.state.rate
                    && let Err(wait) = rate.check(&access.caller.subject)
                {
                    let secs = wait.as_secs().max(1);
                    outbox.send(json!({
                        "type": "error",
                        "id": id,
                        "payload": [{
                            "message": format!(
                                "too many requests for this token subject; subscribe again in \
                                 {secs} s"
                            ),
                            "extensions": { "code": code::RATE_LIMITED, "retryAfter": secs },
                        }],
                    }));
                    return Ok(None);
                }
                if let Some(task) = self
                    .subscribe(id.clone(), access, request, outbox.clone())
                    .await
                {
                    self.running.insert(id, task);
                }
                Ok(None)
            }
            "complete" => {
                if let Some(id) = message.get("id").and_then(Value::as_str)
                    && let Some(task) = self.running.remove(id)
                {
                    task.abort();
                }
                Ok(None)
            }
            _ => Err(Closing::new(
                close::BAD_REQUEST,
                "Invalid message received: unknown type",
            )),
        }
    }

    /// The caller of a `connection_init` payload: its token verified, its purpose checked.
    async fn initialise(&self, payload: Option<&Value>) -> Result<Caller, Closing> {
        let empty = serde_json::Map::new();
        let payload = match payload {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(Closing::new(
                    close::BAD_REQUEST,
                    "the connection_init payload must be an object",
                ));
            }
        };
        let authorization = payload.get("authorization").and_then(Value::as_str);
        let caller = self
            .state
            .verifier
            .verify_header(authorization)
            .await
            .map_err(|error| Closing::new(close::FORBIDDEN, format!("Forbidden: {error}")))?;
        let purpose = match payload.get("purpose") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => purpose_from_header(Some(text))
                .map_err(|message| Closing::new(close::BAD_REQUEST, message))?,
            Some(_) => {
                return Err(Closing::new(
                    close::BAD_REQUEST,
                    "the purpose must be a string",
                ));
            }
        };
        Ok(Caller {
            access: Access::new(caller, self.state.policy.clone()).with_purpose(purpose),
            expires: authorization.and_then(crate::auth::expiry_of),
        })
    }

    /// Admits one subscription (its document within the limits, the subject within its count,
    /// the grants in force read) and starts it, before the connection's next message is read:
    /// once admitted, its stream has subscribed to the events, so a `pong` to a later `ping`
    /// means it is live. Then a task audits and queues each of its responses. `None` when it was
    /// refused (the `error` message is queued).
    async fn subscribe(
        &self,
        id: String,
        access: Access,
        mut request: async_graphql::Request,
        outbox: Outbox,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let replies = Replies {
            state: self.state.clone(),
            correlation: self.correlation.clone(),
            hash: audit::document_hash(&request.query),
            id,
            outbox,
        };
        let state = replies.state.clone();
        if let Err(super::limits::Exceeded(message)) =
            super::limits::check_text(&request.query, &state.limits)
        {
            let operation = "(refused before execution)";
            replies.over_limit(&access, operation, message).await;
            return None;
        }
        let requested = request.operation_name.clone();
        let mut name = None;
        if let Ok(document) = request.parsed_query() {
            name = super::admission::operation_name(document, requested.as_deref());
            if let Err(super::limits::Exceeded(message)) =
                super::limits::check_expansion(document, &state.limits)
            {
                let operation = audit::operation_label(name.as_deref(), &request.query);
                replies.over_limit(&access, &operation, message).await;
                return None;
            }
        }
        let operation = audit::operation_label(name.as_deref(), &request.query);
        let limit = state.subscriptions.per_subject;
        let full = format!(
            "this subject holds {limit} subscriptions already \
             (subscriptions.per_subject); complete one first"
        );
        // A subscription admitted while the process does not hear the database's events (it has
        // just started, or its listener is reconnecting) would miss writes: it waits a moment,
        // then is refused (before it is counted, so a wait holds no lease).
        if !state.events.heard(LISTENER_WAIT).await {
            let message = "this hub process is not following the database's record events yet \
                           (its listener is connecting); subscribe again shortly"
                .to_owned();
            replies.unavailable(&access, &operation, message).await;
            return None;
        }
        // This process's count first: it never exceeds the count over every process, and
        // refuses without a trip to the database.
        let Some(mut held) = state.subscribers.hold(&access.caller.subject, limit) else {
            replies.over_limit(&access, &operation, full).await;
            return None;
        };
        if let Some(leases) = &state.leases {
            match leases.take(&state.db, &access.caller.subject, limit).await {
                Ok(Some(lease)) => held.lease = Some(lease),
                Ok(None) => {
                    drop(held);
                    replies.over_limit(&access, &operation, full).await;
                    return None;
                }
                Err(failure) => {
                    drop(held);
                    tracing::error!(error = %failure, "cannot take a subscription lease; refusing the subscription");
                    let message = format!(
                        "this subject's subscriptions cannot be counted now, so the \
                         subscription is refused; try again later (correlation id {})",
                        replies.correlation
                    );
                    replies.unavailable(&access, &operation, message).await;
                    return None;
                }
            }
        }
        let access = match state
            .grants
            .in_force_for(&state.db, access.role(), chrono::Utc::now())
            .await
        {
            Ok(grants) => access.with_grants(grants),
            Err(failure) => {
                replies
                    .unavailable(&access, &operation, failure.to_string())
                    .await;
                return None;
            }
        };
        let mut context = RequestContext::new(state.db.clone(), access.clone());
        context.grants = Some(state.grants.clone());
        context.events = Some(state.events.clone());
        context.correlation_id = replies.correlation.clone();
        let field_errors = context.field_errors.clone();
        let mut responses = state.schema.execute_stream(request.data(context));
        // One poll runs the subscription's resolver up to its wait for the first event: it
        // follows the events from here on. A response ready at once (a refusal) is kept.
        let first = futures_util::FutureExt::now_or_never(responses.next());
        Some(actix_web::rt::spawn(async move {
            let _held = held;
            let mut ready = first;
            loop {
                let next = match ready.take() {
                    Some(response) => response,
                    None => responses.next().await,
                };
                let Some(mut response) = next else { break };
                response.errors.extend(field_errors.take());
                let trail = access.trail.take();
                let event = replies
                    .event(&access, &operation, outcome(&response))
                    .touching_trail(&trail, trail.rows);
                if let Err(failure) = state.audit.append(event).await {
                    tracing::error!(error = %failure, "cannot record a subscription delivery; ending the subscription");
                    let message = format!(
                        "the delivery could not be recorded in the audit trail, so it is \
                         withheld and the subscription ended; quote correlation id {}",
                        replies.correlation
                    );
                    replies.outbox.send(replies.error(message, code::INTERNAL));
                    return;
                }
                // No data at all: the operation was refused (invalid, forbidden) or its stream
                // failed; the subscription ends with the errors.
                let refused =
                    response.data == async_graphql::Value::Null && !response.errors.is_empty();
                if refused {
                    replies.outbox.send(
                        json!({ "type": "error", "id": replies.id, "payload": response.errors }),
                    );
                    return;
                }
                let next = json!({ "type": "next", "id": replies.id, "payload": response });
                if !replies.outbox.send(next) {
                    return;
                }
            }
            replies
                .outbox
                .send(json!({ "type": "complete", "id": replies.id }));
        }))
    }
}

/// Where one subscription's messages go, and what its audit events name.
struct Replies {
    state: Arc<AppState>,
    correlation: String,
    /// The SHA-256 of the subscription's document.
    hash: String,
    id: String,
    outbox: Outbox,
}

impl Replies {
    /// The audit event of the subscription's operation as `access`'s caller.
    fn event(&self, access: &Access, operation: &str, outcome: audit::Outcome) -> NewEvent {
        NewEvent::of(access, operation, outcome, &self.correlation)
            .with_document_hash(Some(self.hash.clone()))
    }

    /// An `error` message of the subscription.
    fn error(&self, message: String, code: &str) -> Value {
        json!({
            "type": "error",
            "id": self.id,
            "payload": [{ "message": message, "extensions": { "code": code } }],
        })
    }

    /// Refuses the subscription for a limit (`LIMIT_EXCEEDED`), recorded as denied.
    async fn over_limit(&self, access: &Access, operation: &str, message: String) {
        self.refuse(
            access,
            operation,
            audit::Outcome::Denied,
            message,
            code::LIMIT_EXCEEDED,
        )
        .await;
    }

    /// Refuses the subscription on a failure of the hub's (`UNAVAILABLE`), recorded as an error.
    async fn unavailable(&self, access: &Access, operation: &str, message: String) {
        self.refuse(
            access,
            operation,
            audit::Outcome::Error,
            message,
            code::UNAVAILABLE,
        )
        .await;
    }

    /// Ends the subscription before it starts with an `error` message, recorded as the caller's
    /// operation with `outcome` (denied for a limit, error for a failure of the hub's).
    async fn refuse(
        &self,
        access: &Access,
        operation: &str,
        outcome: audit::Outcome,
        message: String,
        code: &str,
    ) {
        if let Err(failure) = self
            .state
            .audit
            .append(self.event(access, operation, outcome))
            .await
        {
            tracing::error!(error = %failure, "cannot record a refused subscription");
        }
        self.outbox.send(self.error(message, code));
    }
}
