//! What reading a file yields, whatever its format: its text, then its records with the problems
//! found while reading them, or why the file cannot be imported at all. The CSV and JSON readers
//! produce these; the file import consumes them.

use std::collections::HashMap;

use super::RowError;

/// A file that cannot be imported at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read the file: {0}")]
    Unreadable(#[from] std::io::Error),
    #[error("the file is not valid UTF-8 (first bad byte on line {line}); save it as UTF-8")]
    NotUtf8 { line: usize },
    #[error("the file is empty")]
    Empty,
    #[error("the file holds no records")]
    NoRecords,
    #[error("cannot tell the format from the file name; use --format csv or --format json")]
    UnknownFormat,
    #[error("{0}")]
    Malformed(String),
    #[error("{}", columns_message(.unknown, .missing, .duplicate, .expected))]
    Columns {
        unknown: Vec<String>,
        missing: Vec<String>,
        duplicate: Vec<String>,
        expected: Vec<String>,
    },
}

fn columns_message(
    unknown: &[String],
    missing: &[String],
    duplicate: &[String],
    expected: &[String],
) -> String {
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("unknown columns: {}", unknown.join(", ")));
    }
    if !missing.is_empty() {
        parts.push(format!("missing required columns: {}", missing.join(", ")));
    }
    if !duplicate.is_empty() {
        parts.push(format!("repeated columns: {}", duplicate.join(", ")));
    }
    format!(
        "wrong header row: {}; the columns are {}",
        parts.join("; "),
        expected.join(", ")
    )
}

/// Records read from a file, with the problems found while reading.
pub(crate) struct Parsed<R> {
    pub rows: Vec<(usize, R)>,
    pub errors: Vec<RowError>,
    /// For CSV seizures: the line of each firearm, by the seizure's first line.
    pub firearm_lines: HashMap<usize, Vec<usize>>,
}

/// The file as text: UTF-8 (a byte-order mark is dropped), not blank.
pub(crate) fn decode(bytes: &[u8]) -> Result<&str, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = bytes.get(..e.valid_up_to()).unwrap_or_default();
        FileError::NotUtf8 {
            line: before.iter().filter(|b| **b == b'\n').count() + 1,
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok(text)
}
