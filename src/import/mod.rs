//! Bulk import from CSV and JSON: every row validated, all rows or none.
//!
//! The core is format-independent: `import_traces`, `import_seizures`, `import_trainings` and
//! `import_funding` take raw records (`records`), validate every one of them (types, code lists,
//! references to agencies and awards, cross-field rules, ownership), and then write them in one
//! transaction, by natural key, so importing the same records twice changes nothing. The command
//! line (`run_file`) reads files into those records; the GraphQL API converts its inputs into them.

mod csv;
mod file;
mod json;
mod read;
pub(crate) mod records;
mod validate;

use std::fmt;

use chrono::Utc;
use entity::Agency;
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

pub(crate) use file::EXIT_DATABASE;
pub(crate) use file::run_file;
pub use file::{FileFormat, FileImport, FileImportError, ImportKind, import_file};
pub use read::FileError;
pub(crate) use records::{FirearmRecord, TraceRecord};
pub use records::{FundingRecord, SeizureRecord, TrainingRecord};

use crate::policy::EntityKind;
use crate::store::import::{self as store, Provenance, Upsert, WriteCounts};
use validate::Context;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Validate and count, then roll everything back.
    pub dry_run: bool,
    /// Provenance of the records (at most 64 characters).
    pub source_system: String,
    /// The agency the caller acts for. When set, every row must be owned by it (and any existing
    /// record it would change too). `None` for the operator's command line.
    pub acting_agency: Option<Agency>,
    /// For writes through the API: the caller. The rows may reference only records it may read
    /// (a funding award it cannot read is unknown, exactly like one that does not exist). `None`
    /// for the operator's command line.
    pub reader: Option<crate::policy::Access>,
    /// For a single-record update: the version the caller read. The import fails with
    /// `ImportError::Conflict` when the stored record has a different version.
    pub expected_version: Option<i32>,
    /// For writes through the API: the audit event recorded in the same transaction as the
    /// write (its `rows_returned` is set to the number of records written).
    pub audit: Option<crate::audit::NewEvent>,
    /// Refuse (with `ImportError::Conflict`) instead of updating when a record with the same
    /// natural key exists: a create through the API, decided inside the import's transaction.
    pub create_only: bool,
    /// Whether the import refreshes the planner's statistics once it committed.
    pub statistics: StatisticsRefresh,
    /// The process's bus of record events, told of what the import wrote once it committed (on
    /// PostgreSQL every process hears of it through the database whether or not this is set).
    pub events: Option<std::sync::Arc<crate::store::events::Events>>,
}

/// Records an import must write before it refreshes the planner's statistics in the background
/// (see [`StatisticsRefresh`]).
pub const REFRESH_STATISTICS_FROM: usize = 1_000;

/// When an import refreshes the planner's statistics (`store::planner`) after it commits.
///
/// A refresh samples every table (a fraction of a second on PostgreSQL at millions of rows), so
/// doing it after each single-record write would slow every write and only repeat what
/// autovacuum does anyway when a tenth of a table changed. An import of many records can change a
/// table's distribution at once (the first load into an empty table above all), and its plans
/// would be chosen blind until autovacuum happens to run: those refresh, after the commit and
/// outside the request, so the answer is not delayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatisticsRefresh {
    /// Not at all (the caller refreshes them itself, as the command line does).
    Never,
    /// In the background, when the import wrote (inserted or updated) at least this many records.
    InBackgroundFrom(usize),
}

impl ImportOptions {
    /// Options of an operator import (no acting agency), writing.
    pub fn new(source_system: impl Into<String>) -> Self {
        ImportOptions {
            dry_run: false,
            source_system: source_system.into(),
            acting_agency: None,
            reader: None,
            expected_version: None,
            audit: None,
            create_only: false,
            statistics: StatisticsRefresh::InBackgroundFrom(REFRESH_STATISTICS_FROM),
            events: None,
        }
    }

    /// The same options, for an update of a record the caller read at `version`.
    pub fn expecting(mut self, version: i32) -> Self {
        self.expected_version = Some(version);
        self
    }

    fn provenance(&self) -> Result<Provenance, ImportError> {
        let source_system = self.source_system.trim();
        if source_system.is_empty() || source_system.chars().count() > 64 {
            return Err(ImportError::Options(format!(
                "source system '{source_system}' must be 1 to 64 characters"
            )));
        }
        Ok(Provenance {
            source_system: source_system.to_owned(),
            ingested_at: Utc::now(),
            expected_version: self.expected_version,
        })
    }
}

/// What an import did (or, on a dry run, would do), record by record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub dry_run: bool,
}

/// One problem of one row. `row` is the caller's number for it (the CSV line, the JSON element
/// index); `field` is the column, `firearms[i].column` for a seizure's firearm, or `None` for the row
/// as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub row: usize,
    pub field: Option<String>,
    pub message: String,
}

impl RowError {
    pub fn new(row: usize, field: Option<&str>, message: impl Into<String>) -> Self {
        RowError {
            row,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: {field}: {}", self.row, self.message),
            None => write!(f, "{}: {}", self.row, self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Some rows are bad: every problem of every row, in row order. Nothing was written.
    #[error(
        "{} of {records} records rejected ({} problems); nothing was written",
        validate::rejected_rows(.errors),
        .errors.len()
    )]
    Rejected {
        records: usize,
        errors: Vec<RowError>,
    },
    #[error("invalid import options: {0}")]
    Options(String),
    /// The record changed since the version the caller read.
    #[error("the record was changed by someone else since it was read")]
    Conflict,
    #[error("database error during import: {0}")]
    Database(DbErr),
}

impl From<DbErr> for ImportError {
    fn from(error: DbErr) -> Self {
        // A concurrent writer inserted the same natural key first.
        if matches!(
            error.sql_err(),
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
        ) {
            return ImportError::Conflict;
        }
        match error {
            DbErr::RecordNotUpdated => ImportError::Conflict,
            other => ImportError::Database(other),
        }
    }
}

impl ImportError {
    /// The row problems, when the import was refused for its data.
    pub fn row_errors(&self) -> &[RowError] {
        match self {
            ImportError::Rejected { errors, .. } => errors,
            _ => &[],
        }
    }
}

/// Every problem of every row, or the rows to write when there are none.
type Validate<R, T> = fn(&[(usize, R)], &Context) -> (Vec<T>, Vec<RowError>);

/// A kind of record the core imports: its natural key and the references validation looks up,
/// and the rows validation makes of it, which the store writes by natural key.
pub(crate) trait Importable: Sized {
    /// The validated row the store writes.
    type Row: Upsert;
    const VALIDATE: Validate<Self, Self::Row>;
    /// The kind of record imported.
    const KIND: EntityKind;

    /// The natural key as written in the record.
    fn key(&self) -> &Option<String>;

    /// The agency code the record names, checked against the `agency` table.
    fn agency(&self) -> Option<&Option<String>> {
        None
    }

    /// The funding award number the record names, which must exist.
    fn award(&self) -> Option<&Option<String>> {
        None
    }
}

impl Importable for TraceRecord {
    type Row = store::TraceRow;
    const VALIDATE: Validate<Self, Self::Row> = validate::traces;
    const KIND: EntityKind = EntityKind::Trace;

    fn key(&self) -> &Option<String> {
        &self.trace_number
    }

    fn agency(&self) -> Option<&Option<String>> {
        Some(&self.requesting_agency)
    }
}

impl Importable for SeizureRecord {
    type Row = store::SeizureRow;
    const VALIDATE: Validate<Self, Self::Row> = validate::seizures;
    const KIND: EntityKind = EntityKind::Seizure;

    fn key(&self) -> &Option<String> {
        &self.case_number
    }
}

impl Importable for TrainingRecord {
    type Row = store::TrainingRow;
    const VALIDATE: Validate<Self, Self::Row> = validate::trainings;
    const KIND: EntityKind = EntityKind::Training;

    fn key(&self) -> &Option<String> {
        &self.reference
    }

    fn agency(&self) -> Option<&Option<String>> {
        Some(&self.mexican_agency)
    }

    fn award(&self) -> Option<&Option<String>> {
        Some(&self.funding_award_number)
    }
}

impl Importable for FundingRecord {
    type Row = store::FundingRow;
    const VALIDATE: Validate<Self, Self::Row> = validate::funding;
    const KIND: EntityKind = EntityKind::FundingAward;

    fn key(&self) -> &Option<String> {
        &self.award_number
    }
}

/// Imports records of one kind: opens the transaction, looks up what validation needs, refuses a
/// create whose key exists, validates every row, then writes them all (or refuses them all).
pub(crate) async fn import<R: Importable>(
    db: &DatabaseConnection,
    rows: Vec<(usize, R)>,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    let provenance = options.provenance()?;
    let txn = crate::store::begin_write(db).await?;
    let context = context::<R>(&txn, &rows, options, &provenance).await?;
    if options.create_only && !context.owners.is_empty() {
        txn.rollback().await?;
        return Err(ImportError::Conflict);
    }
    let (valid, mut errors) = R::VALIDATE(&rows, &context);
    if !errors.is_empty() {
        txn.rollback().await?;
        errors.sort_by_key(|e| e.row);
        return Err(ImportError::Rejected {
            records: rows.len(),
            errors,
        });
    }
    let counts = R::Row::write(&txn, &valid, &provenance).await?;
    let outcome = complete::<R>(txn, counts, options).await?;
    if let StatisticsRefresh::InBackgroundFrom(threshold) = options.statistics
        && !outcome.dry_run
        && outcome.inserted + outcome.updated >= threshold
    {
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(error) = crate::store::planner::refresh_statistics(&db).await {
                tracing::warn!(error = %error, "cannot refresh the planner's statistics after an import");
            }
        });
    }
    Ok(outcome)
}

/// What validation needs from the database: the agencies and the awards (readable by the caller)
/// the records name, and the caller's own records their keys already name.
async fn context<R: Importable>(
    txn: &DatabaseTransaction,
    rows: &[(usize, R)],
    options: &ImportOptions,
    provenance: &Provenance,
) -> Result<Context, DbErr> {
    let records = rows.iter().map(|(_, r)| r);
    let agencies = validate::distinct(records.clone().filter_map(R::agency), validate::code);
    let awards = validate::distinct(records.clone().filter_map(R::award), validate::key);
    let keys = validate::distinct(records.map(R::key), validate::key);
    Ok(Context {
        today: provenance.ingested_at.date_naive(),
        acting: options.acting_agency,
        agencies: store::agencies_by_code(txn, &agencies).await?,
        awards: store::award_ids_by_number(txn, &awards, options.reader.as_ref(), &keys).await?,
        owners: store::owners_by_key::<R::Row, _>(txn, &keys, options.acting_agency).await?,
    })
}

/// Commits, or rolls back on a dry run.
async fn complete<R: Importable>(
    txn: DatabaseTransaction,
    counts: WriteCounts,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    if options.dry_run {
        txn.rollback().await?;
        return Ok(ImportOutcome {
            inserted: counts.inserted,
            updated: counts.updated,
            unchanged: counts.unchanged,
            dry_run: true,
        });
    }
    let events = record_events(R::KIND, &counts);
    crate::store::events::raise(&txn, &events).await?;
    crate::store::generation::bump(&txn, crate::store::generation::Scope::Records).await?;
    if let Some(event) = &options.audit {
        let mut event = event.clone();
        event.rows_returned = (counts.inserted + counts.updated + counts.unchanged) as i64;
        crate::audit::commit_with(txn, event).await?;
    } else {
        txn.commit().await?;
    }
    if let Some(bus) = &options.events {
        bus.committed(&events);
    }
    Ok(ImportOutcome {
        inserted: counts.inserted,
        updated: counts.updated,
        unchanged: counts.unchanged,
        dry_run: options.dry_run,
    })
}

/// The record events of a committed import: each record it created or changed, and each pair of
/// firearm records it newly linked.
fn record_events(kind: EntityKind, counts: &WriteCounts) -> Vec<crate::store::events::Event> {
    use crate::store::events::Event;
    counts
        .written
        .iter()
        .map(|id| Event::Recorded { kind, id: *id })
        .chain(counts.linked.iter().map(|(low, high)| Event::Linked {
            low: *low,
            high: *high,
        }))
        .collect()
}

/// Imports traces (owned by ATF) by `trace_number`, with their firearms.
pub(crate) async fn import_traces(
    db: &DatabaseConnection,
    rows: Vec<(usize, TraceRecord)>,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    import(db, rows, options).await
}

/// Imports seizures (owned by the seizing agency, CBP or ICE) by `case_number`, with their
/// firearms.
pub async fn import_seizures(
    db: &DatabaseConnection,
    rows: Vec<(usize, SeizureRecord)>,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    import(db, rows, options).await
}

/// Imports training events (owned by the provider, ATF or STATE) by `reference`. A funding award
/// they name must already exist.
pub async fn import_trainings(
    db: &DatabaseConnection,
    rows: Vec<(usize, TrainingRecord)>,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    import(db, rows, options).await
}

/// Imports funding awards (owned by STATE) by `award_number`.
pub async fn import_funding(
    db: &DatabaseConnection,
    rows: Vec<(usize, FundingRecord)>,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    import(db, rows, options).await
}
