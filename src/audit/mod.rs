//! The tamper-evident audit trail: every operation, allowed, denied or failed, becomes one row of
//! `audit_event`, and every row carries a SHA-256 hash over its own fields and the hash of the row
//! before it, so changing, deleting or reordering any event breaks the chain at a point `verify`
//! names.
//!
//! # The chain
//!
//! - The first event's `prev_hash` is the empty string ([`GENESIS`]); every later event's
//!   `prev_hash` is the `hash` of the event with the next smaller id. A unique index on `prev_hash`
//!   makes a fork impossible even for a writer that bypasses this module, and database triggers
//!   refuse `UPDATE` and `DELETE` on the table (migration `m20261127_000009_audit_chain`).
//! - `hash` = lower-case hex SHA-256 of [`ENCODING_TAG`] followed by, in this order: `prev_hash`,
//!   `at` (RFC 3339 in UTC with exactly six fractional digits and `Z`, e.g.
//!   `2026-11-27T10:15:00.123456Z`), `subject`, `role`, `purpose`, `operation`, `entities`,
//!   `data_owners`, `rows_returned`, `outcome`, `correlation_id` — each text as its stored string,
//!   prefixed by its length in bytes as a big-endian u64; `purpose` as one byte 0 when absent or
//!   1 followed by the prefixed text; `rows_returned` as eight big-endian bytes (two's complement).
//!   The id is not hashed: the database assigns it, and `prev_hash` already fixes the order.
//! - An event that records the SHA-256 of the GraphQL document its operation ran
//!   (`document_hash`) is hashed with [`ENCODING_TAG_V2`] instead, the same fields, then
//!   `document_hash` as a prefixed text. An event without one keeps the first encoding, so the
//!   events recorded before the column existed verify as they did, and removing or adding a hash
//!   breaks the event's hash.
//! - `at` is truncated to microseconds before it is hashed and stored, so SQLite and PostgreSQL
//!   give back exactly the instant that was hashed.
//!
//! # Concurrency
//!
//! Appends are serialized so that each reads the true head before it links to it. Every append
//! first takes a database lock inside its transaction, then a process-wide mutex, and only then
//! reads the head:
//! - on PostgreSQL a transaction-scoped advisory lock, which serializes appends of several hub
//!   processes;
//! - on SQLite the database's single write lock (`BEGIN IMMEDIATE`, or a write that changes
//!   nothing inside a caller's transaction), which covers several processes on one file too.
//!
//! The mutex is the in-process half that an [`AppendGuard`] holds. The database lock comes first
//! so that no task waits for the mutex while holding what the mutex holder waits for (a pool
//! connection, SQLite's write lock, a row the holder's transaction needs): every wait that could
//! close a cycle is a wait inside the database, where PostgreSQL detects the deadlock and SQLite's
//! busy timeout ends it.
//!
//! # Group commit
//!
//! Requests record their events through an [`Appender`]: one task per pool that takes every event
//! queued meanwhile (at most `database.audit_batch_max`), opens one transaction, takes the two
//! locks above once, reads the head once, inserts the events chained in queue order (multi-row
//! `INSERT`s of at most [`INSERT_ROWS`] rows) and commits, then answers every waiting request with
//! the same outcome: all recorded, or none. A request is answered only after that commit. An
//! event is queued when its request first waits for it; from then on the task records it (or
//! fails its whole batch) whether or not the request is still waiting, so a request dropped while
//! waiting (timed out, client gone) leaves its event recorded or not, never half, and the chain
//! has one writer per process. Writes keep appending inside their own transaction
//! ([`append_in`], [`commit_with`]), serialized with batches by the same locks.
//!
//! # Limitation
//!
//! The chain proves that no event was changed, removed or reordered *before the newest one*, but a
//! deletion of the newest events leaves a shorter chain that is still whole. Record the head hash
//! that `firearms-hub audit verify` prints somewhere outside the database and pass it back with
//! `--head`: verification then fails when that event is gone.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, PoisonError};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use entity::audit_event as event;
use entity::{Agency, Role};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, EntityTrait, Order, QueryOrder, QuerySelect, QueryTrait, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot};

use crate::policy::Access;
use crate::telemetry;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "";

/// The bytes every hashed encoding starts with; a new encoding gets a new tag.
pub(crate) const ENCODING_TAG: &[u8] = b"firearms-hub audit event v1\n";

/// The tag of the encoding of an event that records its document's hash.
pub(crate) const ENCODING_TAG_V2: &[u8] = b"firearms-hub audit event v2\n";

/// The PostgreSQL advisory lock key that serializes appends across hub processes ("FHAUDIT1").
const PG_LOCK_KEY: i64 = 0x4648_4155_4449_5431;

/// Rows per `INSERT` statement: 13 bound values each, well under SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters per statement.
pub const INSERT_ROWS: usize = 200;

/// Events read per query while verifying.
const VERIFY_BATCH: u64 = 1000;

/// Column widths of `audit_event` (in characters); longer values are cut (and control characters
/// replaced) so an append never fails on a caller-supplied value.
const SUBJECT_WIDTH: usize = 200;
const PURPOSE_WIDTH: usize = 200;
const OPERATION_WIDTH: usize = 200;
const ENTITIES_WIDTH: usize = 200;
const CORRELATION_WIDTH: usize = 64;
const DOCUMENT_HASH_WIDTH: usize = 64;

/// The longest operation label taken from an operation name.
const LABEL_WIDTH: usize = 100;

static APPEND_LOCK: LazyLock<Arc<Mutex<()>>> = LazyLock::new(|| Arc::new(Mutex::new(())));

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Ok,
    Denied,
    Error,
}

impl Outcome {
    /// The stored spelling: "ok", "denied" or "error".
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event to record. Never put tokens or personal data in it: `subject` is the token's `sub`,
/// `purpose` the declared purpose, `operation` an [`operation_label`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub subject: String,
    pub role: Role,
    pub purpose: Option<String>,
    pub operation: String,
    /// Entities touched, e.g. `["trace", "firearm"]`; stored comma-separated.
    pub entities: Vec<String>,
    /// Owning agencies whose data was touched; stored sorted as ",ATF,ICE,".
    pub data_owners: Vec<Agency>,
    pub rows_returned: i64,
    pub outcome: Outcome,
    pub correlation_id: String,
    /// Lower-case hex SHA-256 of the GraphQL document the operation ran, when it ran one
    /// ([`document_hash`]).
    pub document_hash: Option<String>,
}

impl NewEvent {
    /// The event of an operation by `access`'s caller, stating the purpose it gave; what it
    /// touched (`entities`, `data_owners`, `rows_returned`) starts empty.
    pub fn of(
        access: &Access,
        operation: impl Into<String>,
        outcome: Outcome,
        correlation_id: &str,
    ) -> NewEvent {
        NewEvent {
            subject: access.caller.subject.clone(),
            role: access.role(),
            purpose: access.purpose.clone(),
            operation: operation.into(),
            entities: Vec::new(),
            data_owners: Vec::new(),
            rows_returned: 0,
            outcome,
            correlation_id: correlation_id.to_owned(),
            document_hash: None,
        }
    }

    /// The same event, recording the SHA-256 of the document its operation ran.
    pub fn with_document_hash(mut self, hash: Option<String>) -> NewEvent {
        self.document_hash = hash;
        self
    }

    /// The same event, recording the entities and owners `trail` says the operation touched and
    /// `rows` rows returned.
    pub fn touching_trail(self, trail: &crate::policy::TrailState, rows: i64) -> NewEvent {
        self.touching(
            trail
                .entities
                .iter()
                .map(|e| e.as_str().to_owned())
                .collect(),
            trail.owners.iter().copied().collect(),
            rows,
        )
    }

    /// The same event, recording what the operation touched.
    pub fn touching(
        mut self,
        entities: Vec<String>,
        data_owners: Vec<Agency>,
        rows_returned: i64,
    ) -> NewEvent {
        self.entities = entities;
        self.data_owners = data_owners;
        self.rows_returned = rows_returned;
        self
    }
}

/// The operation label: the operation name if given (trimmed, at most 100 chars, control
/// characters replaced by U+FFFD), else "sha256:" + the first 16 hex chars of the SHA-256 of the
/// document.
pub fn operation_label(name: Option<&str>, document: &str) -> String {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => truncate_chars(name, LABEL_WIDTH),
        None => {
            let digest = hex::encode(Sha256::digest(document.as_bytes()));
            format!("sha256:{}", &digest[..16])
        }
    }
}

/// The lower-case hex SHA-256 of a GraphQL document's text: what the audit trail, the metrics and
/// persisted queries name a document by.
pub fn document_hash(document: &str) -> String {
    hex::encode(Sha256::digest(document.as_bytes()))
}

/// Held by the caller of [`append_in`] until its transaction has committed or rolled back; while
/// held, no other append of this process can read the head and fork the chain.
#[must_use = "hold the guard until the transaction has committed or rolled back"]
pub struct AppendGuard {
    event: event::Model,
    _lock: OwnedMutexGuard<()>,
}

impl AppendGuard {
    /// The event as inserted (it exists only if the caller's transaction commits).
    pub fn event(&self) -> &event::Model {
        &self.event
    }
}

impl fmt::Debug for AppendGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppendGuard")
            .field("event", &self.event.id)
            .finish_non_exhaustive()
    }
}

/// Appends one event at the end of the chain in its own transaction; safe under concurrent callers
/// (several tasks, and several hub processes on PostgreSQL or on one SQLite file). A failure is
/// counted in `audit_write_failures_total`.
///
/// Do not call it while holding an [`AppendGuard`] in the same task: it would wait for itself.
pub async fn append(db: &DatabaseConnection, event: NewEvent) -> Result<event::Model, DbErr> {
    counted(append_own(db, event).await)
}

async fn append_own(db: &DatabaseConnection, event: NewEvent) -> Result<event::Model, DbErr> {
    let mut appended = append_batch(db, vec![event]).await?;
    appended
        .pop()
        .ok_or_else(|| DbErr::Custom("the audit event was not inserted".to_owned()))
}

/// Appends `events` in this order at the end of the chain in one transaction: one database lock,
/// one head read, one commit. All are recorded or none.
async fn append_batch(
    db: &DatabaseConnection,
    events: Vec<NewEvent>,
) -> Result<Vec<event::Model>, DbErr> {
    let backend = db.get_database_backend();
    let txn = match backend {
        // IMMEDIATE takes the write lock at BEGIN, waiting up to the busy timeout.
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await?
        }
        _ => {
            let txn = db.begin().await?;
            take_pg_lock(&txn).await?;
            txn
        }
    };
    let lock = APPEND_LOCK.clone().lock_owned().await;
    let inserted = insert_at_head(&txn, events).await?;
    txn.commit().await?;
    drop(lock);
    Ok(inserted)
}

/// Appends inside the caller's (write) transaction, so the event commits or rolls back with the
/// write. The returned guard must be held until the caller has committed or rolled back (it keeps
/// other appends of this process from forking the chain meanwhile); [`commit_with`] does all of
/// that. A failure is counted in `audit_write_failures_total`.
///
/// On SQLite this first takes the database's write lock for the transaction (if it does not hold
/// it yet); a transaction that has read before and meanwhile fell behind another writer fails here
/// with SQLite's "database is locked", as its own write would.
pub async fn append_in(txn: &DatabaseTransaction, event: NewEvent) -> Result<AppendGuard, DbErr> {
    counted(append_in_locked(txn, event).await)
}

async fn append_in_locked(
    txn: &DatabaseTransaction,
    event: NewEvent,
) -> Result<AppendGuard, DbErr> {
    match txn.get_database_backend() {
        // A write that changes nothing takes the write lock (and the triggers see no row).
        DbBackend::Sqlite => {
            txn.execute_unprepared("UPDATE audit_event SET id = id WHERE 1 = 0")
                .await?;
        }
        _ => take_pg_lock(txn).await?,
    }
    let lock = APPEND_LOCK.clone().lock_owned().await;
    let event = insert_at_head(txn, vec![event])
        .await?
        .pop()
        .ok_or_else(|| DbErr::Custom("the audit event was not inserted".to_owned()))?;
    Ok(AppendGuard { event, _lock: lock })
}

/// Records a write's event in the write's transaction, commits both, then lets other appends go
/// on: the write and its event are committed together or not at all.
pub(crate) async fn commit_with(txn: DatabaseTransaction, event: NewEvent) -> Result<(), DbErr> {
    let guard = append_in(&txn, event).await?;
    txn.commit().await?;
    drop(guard);
    Ok(())
}

/// Why an event handed to an [`Appender`] was not recorded. Every event of a failed batch gets the
/// same one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit event was not recorded: {message}")]
pub struct NotRecorded {
    /// Set when the database was unreachable or busy (as [`crate::error::unavailability`] says).
    unavailable: Option<&'static str>,
    message: String,
}

impl NotRecorded {
    fn of(error: &DbErr) -> NotRecorded {
        NotRecorded {
            unavailable: crate::error::unavailability(error),
            message: error.to_string(),
        }
    }

    fn stopped() -> NotRecorded {
        NotRecorded {
            unavailable: None,
            message: "the audit appender stopped before the event was committed".to_owned(),
        }
    }
}

impl From<NotRecorded> for crate::error::Error {
    fn from(e: NotRecorded) -> Self {
        match e.unavailable {
            Some(reason) => {
                tracing::warn!(error = %e.message, "database unavailable");
                crate::error::Error::Unavailable(reason)
            }
            None => crate::error::Error::Unexpected(anyhow::Error::new(e)),
        }
    }
}

/// What an [`Appender`] has done since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppenderStats {
    /// Events handed to it.
    pub received: u64,
    /// Batches begun (one transaction each), and the events they took.
    pub batches: u64,
    pub batched: u64,
    /// Events committed, and events whose batch failed.
    pub recorded: u64,
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    received: AtomicU64,
    batches: AtomicU64,
    batched: AtomicU64,
    recorded: AtomicU64,
    failed: AtomicU64,
}

/// An event waiting for its batch, and where to answer.
struct Waiting {
    event: NewEvent,
    reply: oneshot::Sender<Result<event::Model, NotRecorded>>,
}

/// Group commit of audit events: the events of concurrent callers are appended together, one
/// transaction, one pair of locks and one commit per batch (see the module docs). Clones share
/// one queue and one task; the task starts with the first event and ends when the last clone is
/// dropped and the queue is empty.
#[derive(Clone)]
pub struct Appender {
    shared: Arc<Shared>,
}

struct Shared {
    db: DatabaseConnection,
    batch_max: usize,
    /// The runtime the appender was made in, which the task runs on when there is one.
    runtime: Option<tokio::runtime::Handle>,
    queue: std::sync::Mutex<Option<mpsc::UnboundedSender<Waiting>>>,
    counters: Arc<Counters>,
}

impl fmt::Debug for Appender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appender")
            .field("batch_max", &self.shared.batch_max)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Appender {
    /// An appender over `db` taking at most `batch_max` events (at least 1) per transaction.
    pub fn new(db: DatabaseConnection, batch_max: usize) -> Appender {
        Appender {
            shared: Arc::new(Shared {
                db,
                batch_max: batch_max.max(1),
                runtime: tokio::runtime::Handle::try_current().ok(),
                queue: std::sync::Mutex::new(None),
                counters: Arc::default(),
            }),
        }
    }

    /// Appends `event` with the events of concurrent callers, and returns it as committed. On
    /// error nothing of its batch was recorded (and each event is counted in
    /// `audit_write_failures_total`). The event is queued when this future is first polled;
    /// dropping the future after that does not withdraw it.
    pub async fn append(&self, event: NewEvent) -> Result<event::Model, NotRecorded> {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Waiting { event, reply });
        answer.await.unwrap_or_else(|_| Err(NotRecorded::stopped()))
    }

    /// What this appender has done so far.
    pub fn stats(&self) -> AppenderStats {
        let c = &self.shared.counters;
        AppenderStats {
            received: c.received.load(Ordering::SeqCst),
            batches: c.batches.load(Ordering::SeqCst),
            batched: c.batched.load(Ordering::SeqCst),
            recorded: c.recorded.load(Ordering::SeqCst),
            failed: c.failed.load(Ordering::SeqCst),
        }
    }

    /// Hands the event to the task, starting one if none runs (first use, or the runtime it ran
    /// on has shut down).
    fn enqueue(&self, waiting: Waiting) {
        let shared = &self.shared;
        shared.counters.received.fetch_add(1, Ordering::SeqCst);
        let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let waiting = match queue.as_ref() {
            Some(sender) => match sender.send(waiting) {
                Ok(()) => return,
                Err(mpsc::error::SendError(waiting)) => waiting,
            },
            None => waiting,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = run_batches(
            shared.db.clone(),
            shared.batch_max,
            receiver,
            shared.counters.clone(),
        );
        match &shared.runtime {
            Some(runtime) if queue.is_none() => drop(runtime.spawn(task)),
            _ => drop(tokio::spawn(task)),
        }
        // Fails only if the task could not start (its runtime is shutting down); the caller then
        // hears that the appender stopped, and the next event starts a task on the current runtime.
        let _ = sender.send(waiting);
        *queue = Some(sender);
    }
}

/// The appender's task: takes what is queued, up to `batch_max`, appends it as one batch, answers
/// every waiting caller, and starts over.
async fn run_batches(
    db: DatabaseConnection,
    batch_max: usize,
    mut receiver: mpsc::UnboundedReceiver<Waiting>,
    counters: Arc<Counters>,
) {
    let mut batch = Vec::with_capacity(batch_max);
    while receiver.recv_many(&mut batch, batch_max).await > 0 {
        let size = batch.len() as u64;
        counters.batches.fetch_add(1, Ordering::SeqCst);
        counters.batched.fetch_add(size, Ordering::SeqCst);
        telemetry::audit_batch(batch.len());
        let (events, replies): (Vec<NewEvent>, Vec<_>) =
            batch.drain(..).map(|w| (w.event, w.reply)).unzip();
        match append_batch(&db, events).await {
            Ok(appended) => {
                counters.recorded.fetch_add(size, Ordering::SeqCst);
                for (reply, event) in replies.into_iter().zip(appended) {
                    // A caller that stopped waiting no longer needs the answer.
                    let _ = reply.send(Ok(event));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, events = size, "an audit batch could not be committed");
                counters.failed.fetch_add(size, Ordering::SeqCst);
                let failure = NotRecorded::of(&error);
                for reply in replies {
                    telemetry::audit_write_failed();
                    let _ = reply.send(Err(failure.clone()));
                }
            }
        }
    }
}

/// Counts a failed append in the metrics.
fn counted<T>(result: Result<T, DbErr>) -> Result<T, DbErr> {
    if result.is_err() {
        telemetry::audit_write_failed();
    }
    result
}

async fn take_pg_lock<C: ConnectionTrait>(txn: &C) -> Result<(), DbErr> {
    txn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [PG_LOCK_KEY.into()],
    ))
    .await?;
    Ok(())
}

/// Reads the head and inserts the events after it, chained in order. The caller holds the locks.
async fn insert_at_head<C: ConnectionTrait>(
    txn: &C,
    events: Vec<NewEvent>,
) -> Result<Vec<event::Model>, DbErr> {
    let mut prev_hash: String = event::Entity::find()
        .select_only()
        .column(event::Column::Hash)
        .order_by_desc(event::Column::Id)
        .limit(1)
        .into_tuple()
        .one(txn)
        .await?
        .unwrap_or_else(|| GENESIS.to_owned());
    let now = Utc::now();
    let mut models = Vec::with_capacity(events.len());
    for event in events {
        let fields = Fields::from_new(event, now);
        let hash = fields.hash(&prev_hash);
        models.push(event::Model {
            id: 0,
            at: fields.at,
            subject: fields.subject,
            role: fields.role,
            purpose: fields.purpose,
            operation: fields.operation,
            entities: fields.entities,
            data_owners: fields.data_owners,
            rows_returned: fields.rows_returned,
            outcome: fields.outcome,
            correlation_id: fields.correlation_id,
            document_hash: fields.document_hash,
            prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
            hash,
        });
    }
    for chunk in models.chunks_mut(INSERT_ROWS) {
        let mut insert = event::Entity::insert_many(chunk.iter().map(|m| event::ActiveModel {
            id: ActiveValue::NotSet,
            at: ActiveValue::Set(m.at),
            subject: ActiveValue::Set(m.subject.clone()),
            role: ActiveValue::Set(m.role),
            purpose: ActiveValue::Set(m.purpose.clone()),
            operation: ActiveValue::Set(m.operation.clone()),
            entities: ActiveValue::Set(m.entities.clone()),
            data_owners: ActiveValue::Set(m.data_owners.clone()),
            rows_returned: ActiveValue::Set(m.rows_returned),
            outcome: ActiveValue::Set(m.outcome.clone()),
            correlation_id: ActiveValue::Set(m.correlation_id.clone()),
            document_hash: ActiveValue::Set(m.document_hash.clone()),
            prev_hash: ActiveValue::Set(m.prev_hash.clone()),
            hash: ActiveValue::Set(m.hash.clone()),
        }))
        .into_query();
        insert.returning(Query::returning().columns([event::Column::Id, event::Column::Hash]));
        // RETURNING's row order is not promised: match the ids by hash, which is unique.
        let mut ids = HashMap::with_capacity(chunk.len());
        for row in txn.query_all(&insert).await? {
            let id: i64 = row.try_get("", "id")?;
            let hash: String = row.try_get("", "hash")?;
            ids.insert(hash, id);
        }
        for model in chunk.iter_mut() {
            model.id = ids.get(&model.hash).copied().ok_or_else(|| {
                DbErr::Custom(format!("audit event {} was not inserted", model.hash))
            })?;
        }
    }
    Ok(models)
}

/// The hashed fields of an event, as stored (`role` as its stored word).
struct Fields<R> {
    at: DateTime<Utc>,
    subject: String,
    role: R,
    purpose: Option<String>,
    operation: String,
    entities: String,
    data_owners: String,
    rows_returned: i64,
    outcome: String,
    correlation_id: String,
    document_hash: Option<String>,
}

impl Fields<Role> {
    /// The stored form of a new event: `at` truncated to microseconds, lists joined, long texts cut
    /// to their column widths.
    fn from_new(event: NewEvent, now: DateTime<Utc>) -> Self {
        let mut entities: Vec<String> = Vec::new();
        for entity in event.entities {
            let entity = entity.trim().replace(',', "");
            if !entity.is_empty() && !entities.contains(&entity) {
                entities.push(entity);
            }
        }
        let mut owners = event.data_owners;
        owners.sort();
        owners.dedup();
        let data_owners = if owners.is_empty() {
            String::new()
        } else {
            let words: Vec<&str> = owners.iter().map(|a| a.as_str()).collect();
            format!(",{},", words.join(","))
        };
        Fields {
            at: now.trunc_subsecs(6),
            subject: truncate_chars(&event.subject, SUBJECT_WIDTH),
            role: event.role,
            purpose: event.purpose.map(|p| truncate_chars(&p, PURPOSE_WIDTH)),
            operation: truncate_chars(&event.operation, OPERATION_WIDTH),
            entities: truncate_chars(&entities.join(","), ENTITIES_WIDTH),
            data_owners,
            rows_returned: event.rows_returned,
            outcome: event.outcome.as_str().to_owned(),
            correlation_id: truncate_chars(&event.correlation_id, CORRELATION_WIDTH),
            document_hash: event
                .document_hash
                .map(|h| truncate_chars(&h, DOCUMENT_HASH_WIDTH)),
        }
    }

    fn hash(&self, prev_hash: &str) -> String {
        event_hash(prev_hash, &self.as_stored())
    }
}

/// A role as the hashed fields hold it: the enumeration of a new event, or the word read back
/// from a stored one.
trait RoleWord {
    fn word(&self) -> &str;
}

impl RoleWord for Role {
    fn word(&self) -> &str {
        self.as_str()
    }
}

impl RoleWord for String {
    fn word(&self) -> &str {
        self
    }
}

impl<R: RoleWord> Fields<R> {
    fn as_stored(&self) -> StoredFields<'_> {
        StoredFields {
            at: self.at,
            subject: &self.subject,
            role: self.role.word(),
            purpose: self.purpose.as_deref(),
            operation: &self.operation,
            entities: &self.entities,
            data_owners: &self.data_owners,
            rows_returned: self.rows_returned,
            outcome: &self.outcome,
            correlation_id: &self.correlation_id,
            document_hash: self.document_hash.as_deref(),
        }
    }
}

/// Borrowed view of the hashed fields, exactly as stored.
struct StoredFields<'a> {
    at: DateTime<Utc>,
    subject: &'a str,
    role: &'a str,
    purpose: Option<&'a str>,
    operation: &'a str,
    entities: &'a str,
    data_owners: &'a str,
    rows_returned: i64,
    outcome: &'a str,
    correlation_id: &'a str,
    document_hash: Option<&'a str>,
}

/// The canonical hash of an event (see the module docs for the encoding).
fn event_hash(prev_hash: &str, f: &StoredFields<'_>) -> String {
    fn text(hasher: &mut Sha256, value: &str) {
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value.as_bytes());
    }
    let mut h = Sha256::new();
    h.update(match f.document_hash {
        None => ENCODING_TAG,
        Some(_) => ENCODING_TAG_V2,
    });
    text(&mut h, prev_hash);
    text(&mut h, &f.at.to_rfc3339_opts(SecondsFormat::Micros, true));
    text(&mut h, f.subject);
    text(&mut h, f.role);
    match f.purpose {
        None => h.update([0u8]),
        Some(purpose) => {
            h.update([1u8]);
            text(&mut h, purpose);
        }
    }
    text(&mut h, f.operation);
    text(&mut h, f.entities);
    text(&mut h, f.data_owners);
    h.update(f.rows_returned.to_be_bytes());
    text(&mut h, f.outcome);
    text(&mut h, f.correlation_id);
    if let Some(document_hash) = f.document_hash {
        text(&mut h, document_hash);
    }
    hex::encode(h.finalize())
}

/// At most `width` characters of `value`, control characters (NUL included, which PostgreSQL
/// refuses in text) replaced by U+FFFD, so an append never fails on what a caller sent.
fn truncate_chars(value: &str, width: usize) -> String {
    value
        .chars()
        .take(width)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// The outcome of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events examined, including a broken one.
    pub checked: u64,
    /// The first event whose hash or link does not hold; `None` when the chain is whole.
    pub first_broken: Option<BrokenLink>,
    /// The newest event, when the chain is whole and not empty: record its hash outside the
    /// database to detect a later deletion of the newest events.
    pub head: Option<ChainHead>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// Where the chain breaks, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub id: i64,
    pub reason: String,
}

/// The newest event of a whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub id: i64,
    pub hash: String,
}

/// Walks the whole chain in id order, recomputing every hash; reports the first broken link.
pub async fn verify(db: &DatabaseConnection) -> Result<VerifyReport, DbErr> {
    verify_against(db, None).await
}

/// Like [`verify`], and also requires an event with the hash `known_head` (a head recorded
/// earlier outside the database) to be in the chain: when it is missing, the newest events were
/// deleted, and the break is reported at the id after the last event present (`BrokenLink.id`).
pub async fn verify_against(
    db: &DatabaseConnection,
    known_head: Option<&str>,
) -> Result<VerifyReport, DbErr> {
    let known_head = known_head.map(str::trim).filter(|h| !h.is_empty());
    let mut checked = 0u64;
    let mut previous: Option<(i64, String)> = None;
    let mut anchor_seen = false;
    loop {
        let rows = read_batch(db, previous.as_ref().map(|(id, _)| *id)).await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let id: i64 = row.try_get("", "id")?;
            checked += 1;
            let broken = |reason: String| VerifyReport {
                checked,
                first_broken: Some(BrokenLink { id, reason }),
                head: None,
            };
            let (prev_hash, hash, fields) = match decode(row) {
                Ok(decoded) => decoded,
                Err(error) => {
                    return Ok(broken(format!("fields cannot be read (changed): {error}")));
                }
            };
            if event_hash(&prev_hash, &fields.as_stored()) != hash {
                return Ok(broken(
                    "hash does not match its fields (changed)".to_owned(),
                ));
            }
            match &previous {
                None if prev_hash != GENESIS => {
                    return Ok(broken(
                        "prev_hash is not the genesis value of the first event (earlier events deleted)"
                            .to_owned(),
                    ));
                }
                Some((prev_id, prev)) if *prev != prev_hash => {
                    return Ok(broken(format!(
                        "prev_hash does not match event {prev_id} (deleted or reordered)"
                    )));
                }
                _ => {}
            }
            if known_head == Some(hash.as_str()) {
                anchor_seen = true;
            }
            previous = Some((id, hash));
        }
    }
    if let Some(anchor) = known_head
        && !anchor_seen
    {
        let after = previous.as_ref().map_or(1, |(id, _)| id.saturating_add(1));
        return Ok(VerifyReport {
            checked,
            first_broken: Some(BrokenLink {
                id: after,
                reason: format!(
                    "the recorded head {anchor} is not in the chain (newest events deleted)"
                ),
            }),
            head: None,
        });
    }
    Ok(VerifyReport {
        checked,
        first_broken: None,
        head: previous.map(|(id, hash)| ChainHead { id, hash }),
    })
}

async fn read_batch(
    db: &DatabaseConnection,
    after: Option<i64>,
) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
    use event::Column as C;
    let mut query = Query::select();
    query
        .columns([
            C::Id,
            C::At,
            C::Subject,
            C::Role,
            C::Purpose,
            C::Operation,
            C::Entities,
            C::DataOwners,
            C::RowsReturned,
            C::Outcome,
            C::CorrelationId,
            C::DocumentHash,
            C::PrevHash,
            C::Hash,
        ])
        .from(event::Entity)
        .order_by(C::Id, Order::Asc)
        .limit(VERIFY_BATCH);
    if let Some(after) = after {
        query.and_where(C::Id.gt(after));
    }
    db.query_all(&query).await
}

/// The hashed fields of a stored row, read as plain values so a tampered role or outcome is
/// reported rather than refused by the entity's enumerations.
fn decode(row: &sea_orm::QueryResult) -> Result<(String, String, Fields<String>), DbErr> {
    let role: String = row.try_get("", "role")?;
    let fields = Fields {
        at: row.try_get("", "at")?,
        subject: row.try_get("", "subject")?,
        role,
        purpose: row.try_get("", "purpose")?,
        operation: row.try_get("", "operation")?,
        entities: row.try_get("", "entities")?,
        data_owners: row.try_get("", "data_owners")?,
        rows_returned: row.try_get("", "rows_returned")?,
        outcome: row.try_get("", "outcome")?,
        correlation_id: row.try_get("", "correlation_id")?,
        document_hash: row.try_get("", "document_hash")?,
    };
    Ok((
        row.try_get("", "prev_hash")?,
        row.try_get("", "hash")?,
        fields,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewEvent {
        NewEvent {
            subject: "analyst-17".into(),
            role: Role::Ice,
            purpose: None,
            operation: "Traces".into(),
            entities: vec!["trace".into(), "firearm".into(), "trace".into()],
            data_owners: vec![Agency::Ice, Agency::Atf, Agency::Ice],
            rows_returned: 3,
            outcome: Outcome::Ok,
            correlation_id: "c-1".into(),
            document_hash: None,
        }
    }

    #[test]
    fn stored_form_is_canonical() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:15:00.123456789Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let f = Fields::from_new(sample(), now);
        assert_eq!(f.entities, "trace,firearm");
        assert_eq!(f.data_owners, ",ATF,ICE,");
        assert_eq!(f.at.timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(f.hash("").len(), 64);
    }

    #[test]
    fn encoding_is_unambiguous() {
        let now = Utc::now();
        let mut a = Fields::from_new(sample(), now);
        let mut b = Fields::from_new(sample(), now);
        a.subject = "ab".into();
        a.operation = "c".into();
        b.subject = "a".into();
        b.operation = "bc".into();
        assert_ne!(a.hash(""), b.hash(""));
        let mut c = Fields::from_new(sample(), now);
        c.purpose = Some(String::new());
        assert_ne!(c.hash(""), Fields::from_new(sample(), now).hash(""));
        assert_ne!(c.hash(""), c.hash("x"));
        // The document's hash is hashed, and its absence differs from an empty one.
        let mut d = Fields::from_new(sample(), now);
        d.document_hash = Some(document_hash("{ me { role } }"));
        let mut e = Fields::from_new(sample(), now);
        e.document_hash = Some(String::new());
        let plain = Fields::from_new(sample(), now).hash("");
        assert_ne!(d.hash(""), plain);
        assert_ne!(e.hash(""), plain);
        assert_ne!(d.hash(""), e.hash(""));
    }

    /// A database without the audit table: every append to it fails.
    async fn no_audit_table() -> DatabaseConnection {
        sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("an in-memory database")
    }

    #[tokio::test]
    async fn a_failed_append_is_counted_in_the_metrics() {
        let db = no_audit_table().await;
        let before = telemetry::audit_write_failures();
        assert!(append(&db, sample()).await.is_err());
        assert!(telemetry::audit_write_failures() > before);
    }

    #[tokio::test]
    async fn a_failed_append_inside_a_write_is_counted_in_the_metrics() {
        let db = no_audit_table().await;
        let txn = db.begin().await.expect("a transaction");
        let before = telemetry::audit_write_failures();
        assert!(commit_with(txn, sample()).await.is_err());
        assert!(telemetry::audit_write_failures() > before);
    }

    #[test]
    fn labels() {
        assert_eq!(operation_label(Some("  Traces "), "{ x }"), "Traces");
        assert_eq!(
            operation_label(Some(&"é".repeat(150)), "").chars().count(),
            100
        );
        let label = operation_label(Some("  "), "{ x }");
        assert!(label.starts_with("sha256:") && label.len() == 23, "{label}");
        assert_eq!(label, operation_label(None, "{ x }"));
    }
}
