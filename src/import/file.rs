//! `firearms-hub import KIND FILE`: reads a CSV or JSON file into records, runs the import core and
//! reports on standard error as `FILE:LINE: field: reason`, one line per problem.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use sea_orm::DatabaseConnection;

use super::read::{FileError, Parsed, decode};
use super::records::{FundingRecord, Record, SeizureRecord, TraceRecord, TrainingRecord};
use super::{ImportError, ImportOptions, ImportOutcome, Importable, RowError, csv, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Traces,
    Seizures,
    Trainings,
    Funding,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Traces => "traces",
            ImportKind::Seizures => "seizures",
            ImportKind::Trainings => "trainings",
            ImportKind::Funding => "funding",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileImport {
    pub kind: ImportKind,
    pub path: PathBuf,
    pub format: Option<FileFormat>,
    pub dry_run: bool,
    pub source_system: String,
}

/// Exit code when rows are refused.
const EXIT_REJECTED: u8 = 1;
/// Exit code when the file cannot be read or is not a well-formed file of its format.
const EXIT_MALFORMED: u8 = 2;
/// Exit code when the database fails.
pub(crate) const EXIT_DATABASE: u8 = 3;

fn format_of(request: &FileImport) -> Result<FileFormat, FileError> {
    if let Some(format) = request.format {
        return Ok(format);
    }
    let extension = request
        .path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("csv") => Ok(FileFormat::Csv),
        Some("json") => Ok(FileFormat::Json),
        _ => Err(FileError::UnknownFormat),
    }
}

/// Reads the records of a kind without nested firearms.
fn parse<R: Record>(text: &str, format: FileFormat) -> Result<Parsed<R>, FileError> {
    match format {
        FileFormat::Csv => csv::read::<R>(text),
        FileFormat::Json => json::read::<R>(text, R::COLUMNS, false),
    }
}

/// Imports a file and reports on standard error; the exit code is non-zero when any row is bad.
///
/// Exit codes: 0 imported (or dry run passed), 1 rows refused, 2 file unreadable or malformed,
/// 3 database failure. Nothing is written unless the code is 0 and it is not a dry run.
pub(crate) async fn run_file(
    db: &DatabaseConnection,
    request: &FileImport,
) -> anyhow::Result<ExitCode> {
    let path = request.path.display().to_string();
    let options = ImportOptions {
        dry_run: request.dry_run,
        statistics: super::StatisticsRefresh::Never,
        ..ImportOptions::new(request.source_system.clone())
    };
    let started = Instant::now();
    let kind = request.kind.as_str();
    let progress = spinner(format!("importing {kind} from {path}"));
    let imported = import_file(db, request, &options).await;
    if let Ok(outcome) = &imported
        && !outcome.dry_run
        && outcome.inserted + outcome.updated > 0
    {
        // An operator's import is a bulk load: its plans should not wait for autovacuum.
        progress.set_message("refreshing the planner's statistics");
        if let Err(error) = crate::store::planner::refresh_statistics(db).await {
            progress.suspend(|| {
                eprintln!("warning: cannot refresh the planner's statistics: {error}");
            });
        }
    }
    progress.finish_and_clear();
    let took = format!("{:.1} s", started.elapsed().as_secs_f64());
    match imported {
        Ok(outcome) => {
            let counts = format!(
                "{} inserted, {} updated, {} unchanged",
                outcome.inserted, outcome.updated, outcome.unchanged
            );
            if outcome.dry_run {
                eprintln!(
                    "dry run: {kind} from {path} would be {counts}; nothing was written ({took})"
                );
            } else {
                eprintln!("imported {kind} from {path}: {counts} in {took}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure::File(error)) => {
            eprintln!("{path}: error: {error}");
            eprintln!("{path}: nothing was imported");
            Ok(ExitCode::from(EXIT_MALFORMED))
        }
        Err(Failure::Rows { records, errors }) => {
            for error in &errors {
                match &error.field {
                    Some(field) => eprintln!("{path}:{}: {field}: {}", error.row, error.message),
                    None => eprintln!("{path}:{}: {}", error.row, error.message),
                }
            }
            eprintln!(
                "{path}: {} of {records} {} rejected ({} problems); nothing was imported",
                super::validate::rejected_rows(&errors),
                request.kind.as_str(),
                errors.len()
            );
            Ok(ExitCode::from(EXIT_REJECTED))
        }
        Err(Failure::Import(error)) => {
            eprintln!("{path}: error: {error}");
            eprintln!("{path}: nothing was imported");
            Ok(ExitCode::from(EXIT_DATABASE))
        }
    }
}

/// A spinner naming the step under way with the time spent, on standard error when it is a
/// terminal; hidden otherwise, where the one summary line `run_file` prints is all that is written.
fn spinner(message: String) -> ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// Why a file was not imported.
#[derive(Debug, thiserror::Error)]
pub enum FileImportError {
    /// The file cannot be read or is not a well-formed file of its format.
    #[error(transparent)]
    File(#[from] FileError),
    /// Some rows are bad; every problem, in line order. `row` is the CSV line or JSON element.
    #[error("{} of {records} records rejected ({} problems); nothing was written",
        super::validate::rejected_rows(.errors), .errors.len())]
    Rows {
        records: usize,
        errors: Vec<RowError>,
    },
    /// The database failed.
    #[error(transparent)]
    Import(ImportError),
}

type Failure = FileImportError;

/// Reads, validates and imports a file. Problems found while reading and those found by the core
/// are reported together; when reading found any, the core runs as a dry run so nothing is written.
/// `request.dry_run` and `request.source_system` are ignored in favour of `options`.
pub async fn import_file(
    db: &DatabaseConnection,
    request: &FileImport,
    options: &ImportOptions,
) -> Result<ImportOutcome, Failure> {
    let bytes = std::fs::read(&request.path).map_err(FileError::from)?;
    let text = decode(&bytes)?;
    let format = format_of(request)?;
    match request.kind {
        ImportKind::Traces => run(db, parse::<TraceRecord>(text, format)?, options).await,
        ImportKind::Seizures => {
            let parsed = match format {
                FileFormat::Csv => csv::read_seizures(text),
                FileFormat::Json => {
                    json::read::<SeizureRecord>(text, SeizureRecord::SEIZURE_COLUMNS, true)
                }
            };
            run(db, parsed?, options).await
        }
        ImportKind::Trainings => run(db, parse::<TrainingRecord>(text, format)?, options).await,
        ImportKind::Funding => run(db, parse::<FundingRecord>(text, format)?, options).await,
    }
}

/// Runs the import core on what was read, as a dry run when reading found problems, and reports
/// the problems of both together in line order.
async fn run<R: Importable>(
    db: &DatabaseConnection,
    parsed: Parsed<R>,
    options: &ImportOptions,
) -> Result<ImportOutcome, Failure> {
    let Parsed {
        rows,
        errors: mut read_errors,
        firearm_lines,
    } = parsed;
    let records = rows.len() + super::validate::rejected_rows(&read_errors);
    let mut options = options.clone();
    if !read_errors.is_empty() {
        options.dry_run = true;
    }
    let mut errors = match super::import(db, rows, &options).await {
        Ok(outcome) if read_errors.is_empty() => return Ok(outcome),
        Ok(_) => Vec::new(),
        Err(ImportError::Rejected { errors, .. }) => errors,
        Err(other) => return Err(Failure::Import(other)),
    };
    for error in &mut errors {
        relocate_firearm_error(error, &firearm_lines);
    }
    errors.append(&mut read_errors);
    errors.sort_by_key(|e| e.row);
    Err(Failure::Rows { records, errors })
}

/// Points an error about a seizure's `firearms[i]` at the CSV line of that firearm.
fn relocate_firearm_error(error: &mut RowError, firearm_lines: &HashMap<usize, Vec<usize>>) {
    let Some(lines) = firearm_lines.get(&error.row) else {
        return;
    };
    let Some(field) = error.field.as_deref() else {
        return;
    };
    let Some((index, column)) = field
        .strip_prefix("firearms[")
        .and_then(|rest| rest.split_once("]."))
    else {
        return;
    };
    if let Some(line) = index.parse::<usize>().ok().and_then(|i| lines.get(i)) {
        error.row = *line;
        error.field = Some(column.to_owned());
    }
}
