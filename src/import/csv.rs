//! CSV files: a header row naming the documented columns, then one record per line. For seizures each
//! line is one firearm; lines with the same `case_number` form one seizure.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::RowError;
use super::read::{FileError, Parsed};
use super::records::{Record, SeizureRecord};

/// One data line: its 1-based line number in the file and its non-empty values by column.
struct Line {
    line: usize,
    values: Map<String, Value>,
}

/// The lines of one seizure case.
struct Group {
    /// The first line of the case.
    line: usize,
    seizure: Map<String, Value>,
    firearms: Vec<Value>,
    firearm_lines: Vec<usize>,
}

/// Reads the records of a non-seizure kind.
pub(crate) fn read<R: Record>(text: &str) -> Result<Parsed<R>, FileError> {
    let (lines, mut errors) = read_lines(text, R::COLUMNS, R::REQUIRED)?;
    let mut rows = Vec::with_capacity(lines.len());
    for line in lines {
        match serde_json::from_value::<R>(Value::Object(line.values)) {
            Ok(record) => rows.push((line.line, record)),
            Err(e) => errors.push(RowError::new(line.line, None, e.to_string())),
        }
    }
    Ok(Parsed {
        rows,
        errors,
        firearm_lines: HashMap::new(),
    })
}

/// Reads seizures: lines grouped by `case_number` (in order of first appearance), whose seizure
/// columns must agree; each line with any firearm column adds one firearm.
pub(crate) fn read_seizures(text: &str) -> Result<Parsed<SeizureRecord>, FileError> {
    let (lines, mut errors) = read_lines(text, SeizureRecord::COLUMNS, SeizureRecord::REQUIRED)?;
    let mut groups: Vec<Group> = Vec::new();
    let mut by_case: HashMap<String, usize> = HashMap::new();
    for Line { line, values } in lines {
        let (seizure, firearm): (Map<String, Value>, Map<String, Value>) = values
            .into_iter()
            .partition(|(column, _)| !column.starts_with("firearm_"));
        let case = seizure
            .get("case_number")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let group = match case.as_ref().and_then(|c| by_case.get(c)) {
            Some(&index) => {
                if !agrees(line, &seizure, &groups[index], &mut errors) {
                    continue;
                }
                index
            }
            None => {
                if let Some(case) = case {
                    by_case.insert(case, groups.len());
                }
                groups.push(Group {
                    line,
                    seizure,
                    firearms: Vec::new(),
                    firearm_lines: Vec::new(),
                });
                groups.len() - 1
            }
        };
        if !firearm.is_empty() {
            groups[group].firearms.push(Value::Object(firearm));
            groups[group].firearm_lines.push(line);
        }
    }
    Ok(seizure_records(groups, errors))
}

/// Whether a later line of a case repeats the seizure columns of its first line; each column that
/// differs is a problem of the line.
fn agrees(
    line: usize,
    seizure: &Map<String, Value>,
    group: &Group,
    errors: &mut Vec<RowError>,
) -> bool {
    let mut agrees = true;
    for column in SeizureRecord::SEIZURE_COLUMNS {
        let ours = seizure.get(*column).and_then(Value::as_str);
        let theirs = group.seizure.get(*column).and_then(Value::as_str);
        if ours != theirs {
            agrees = false;
            errors.push(RowError::new(
                line,
                Some(column),
                format!(
                    "'{}' differs from line {} of the same case ('{}'); \
                     the seizure columns must repeat unchanged",
                    ours.unwrap_or(""),
                    group.line,
                    theirs.unwrap_or("")
                ),
            ));
        }
    }
    agrees
}

/// One record per case, numbered by its first line, with the line of each of its firearms.
fn seizure_records(groups: Vec<Group>, mut errors: Vec<RowError>) -> Parsed<SeizureRecord> {
    let mut rows = Vec::with_capacity(groups.len());
    let mut firearm_lines = HashMap::new();
    for group in groups {
        let Group {
            line,
            mut seizure,
            firearms,
            firearm_lines: lines,
        } = group;
        seizure.insert("firearms".to_owned(), Value::Array(firearms));
        match serde_json::from_value::<SeizureRecord>(Value::Object(seizure)) {
            Ok(record) => {
                rows.push((line, record));
                firearm_lines.insert(line, lines);
            }
            Err(e) => errors.push(RowError::new(line, None, e.to_string())),
        }
    }
    Parsed {
        rows,
        errors,
        firearm_lines,
    }
}

fn read_lines(
    text: &str,
    columns: &[&str],
    required: &[&str],
) -> Result<(Vec<Line>, Vec<RowError>), FileError> {
    if let Some(line) = unterminated_quote(text) {
        return Err(FileError::Malformed(format!(
            "a quoted field opened on line {line} is never closed (is the file truncated?)"
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| FileError::Malformed(format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    check_header(&header, columns, required)?;
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    for result in reader.records() {
        let record = result.map_err(|e| FileError::Malformed(format!("{e}")))?;
        let line = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(0);
        if record.len() != header.len() {
            errors.push(RowError::new(
                line,
                None,
                format!(
                    "has {} fields but the header has {} columns",
                    record.len(),
                    header.len()
                ),
            ));
            continue;
        }
        let mut values = Map::new();
        for (column, value) in header.iter().zip(record.iter()) {
            if !value.is_empty() {
                values.insert(column.clone(), Value::String(value.to_owned()));
            }
        }
        lines.push(Line { line, values });
    }
    if lines.is_empty() && errors.is_empty() {
        return Err(FileError::NoRecords);
    }
    Ok((lines, errors))
}

fn check_header(header: &[String], columns: &[&str], required: &[&str]) -> Result<(), FileError> {
    if header.iter().all(String::is_empty) {
        return Err(FileError::Empty);
    }
    let unknown: Vec<String> = header
        .iter()
        .filter(|h| !columns.contains(&h.as_str()))
        .cloned()
        .collect();
    let missing: Vec<String> = required
        .iter()
        .filter(|c| !header.iter().any(|h| h == *c))
        .map(|c| (*c).to_owned())
        .collect();
    let mut duplicate: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, h)| header[..*i].contains(h))
        .map(|(_, h)| h.clone())
        .collect();
    duplicate.dedup();
    if unknown.is_empty() && missing.is_empty() && duplicate.is_empty() {
        return Ok(());
    }
    Err(FileError::Columns {
        unknown,
        missing,
        duplicate,
        expected: columns.iter().map(|c| (*c).to_owned()).collect(),
    })
}

/// The line where a quoted field opens that the file never closes, if any. Quotes count only at
/// the start of a field, as the CSV reader treats them.
fn unterminated_quote(text: &str) -> Option<usize> {
    let mut line = 1;
    let mut opened = 0;
    let mut at_field_start = true;
    let mut in_quotes = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                }
                '"' => in_quotes = false,
                '\n' => line += 1,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                in_quotes = true;
                opened = line;
                at_field_start = false;
            }
            ',' => at_field_start = true,
            '\n' => {
                line += 1;
                at_field_start = true;
            }
            '\r' => {}
            _ => at_field_start = false,
        }
    }
    in_quotes.then_some(opened)
}

#[cfg(test)]
mod tests {
    use super::unterminated_quote;

    #[test]
    fn unclosed_quotes_are_found_and_escaped_quotes_are_not() {
        assert_eq!(unterminated_quote("a,b\n\"x\"\"y\",2\n"), None);
        assert_eq!(unterminated_quote("a,b\n1,5\" barrel\n"), None);
        assert_eq!(unterminated_quote("a,b\n1,2\n3,\"open\n"), Some(3));
    }
}
