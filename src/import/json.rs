//! JSON files: one array of objects whose keys are the documented column names. Values are text or
//! whole numbers; decimals must be written as text so no precision is lost. Seizures carry their
//! firearms as a `firearms` array of objects with the firearm columns. Rows are numbered by their
//! 1-based position in the array.

use std::collections::HashMap;

use serde_json::error::Category;
use serde_json::{Map, Value};

use super::RowError;
use super::read::{FileError, Parsed};
use super::records::{FirearmRecord, Record};

/// Reads the records of a kind. `top_level` are the keys an element may have; with
/// `firearms_array` an element may also have a `firearms` array.
pub(crate) fn read<R: Record>(
    text: &str,
    top_level: &[&str],
    firearms_array: bool,
) -> Result<Parsed<R>, FileError> {
    let document: Value = serde_json::from_str(text).map_err(|e| {
        let at = format!("line {} column {}", e.line(), e.column());
        FileError::Malformed(match e.classify() {
            Category::Eof => format!("the JSON ends early at {at} (is the file truncated?)"),
            _ => format!("invalid JSON at {at}: {e}"),
        })
    })?;
    let Value::Array(items) = document else {
        return Err(FileError::Malformed(
            "the JSON must be an array of objects, one per record".to_owned(),
        ));
    };
    if items.is_empty() {
        return Err(FileError::NoRecords);
    }
    let mut rows = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let row = index + 1;
        let Value::Object(object) = item else {
            errors.push(RowError::new(row, None, "is not a JSON object"));
            continue;
        };
        let before = errors.len();
        let mut values = Map::new();
        for (key, value) in object {
            if firearms_array && key == "firearms" {
                let firearms = firearms(row, value, &mut errors);
                values.insert(key, Value::Array(firearms));
            } else if top_level.contains(&key.as_str()) {
                if let Some(text) = text_value(row, &key, &value, &mut errors) {
                    values.insert(key, Value::String(text));
                }
            } else {
                errors.push(RowError::new(
                    row,
                    Some(&key),
                    format!("unknown field; expected one of {}", top_level.join(", ")),
                ));
            }
        }
        if errors.len() > before {
            continue;
        }
        match serde_json::from_value::<R>(Value::Object(values)) {
            Ok(record) => rows.push((row, record)),
            Err(e) => errors.push(RowError::new(row, None, e.to_string())),
        }
    }
    Ok(Parsed {
        rows,
        errors,
        firearm_lines: HashMap::new(),
    })
}

fn firearms(row: usize, value: Value, errors: &mut Vec<RowError>) -> Vec<Value> {
    let Value::Array(items) = value else {
        if !value.is_null() {
            errors.push(RowError::new(
                row,
                Some("firearms"),
                "must be an array of firearm objects",
            ));
        }
        return Vec::new();
    };
    let mut firearms = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let Value::Object(object) = item else {
            errors.push(RowError::new(
                row,
                Some(&format!("firearms[{index}]")),
                "is not a JSON object",
            ));
            continue;
        };
        let mut values = Map::new();
        for (key, value) in object {
            let field = format!("firearms[{index}].{key}");
            if !FirearmRecord::COLUMNS.contains(&key.as_str()) {
                errors.push(RowError::new(
                    row,
                    Some(&field),
                    format!(
                        "unknown field; expected one of {}",
                        FirearmRecord::COLUMNS.join(", ")
                    ),
                ));
            } else if let Some(text) = text_value(row, &field, &value, errors) {
                values.insert(key, Value::String(text));
            }
        }
        firearms.push(Value::Object(values));
    }
    firearms
}

/// A value as text: strings as written, whole numbers in decimal; `None` for null and empty text.
fn text_value(
    row: usize,
    field: &str,
    value: &Value,
    errors: &mut Vec<RowError>,
) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::Number(n) => {
            errors.push(RowError::new(
                row,
                Some(field),
                format!(
                    "write the decimal number {n} as text, e.g. \"{n}\", so no precision is lost"
                ),
            ));
            None
        }
        _ => {
            errors.push(RowError::new(
                row,
                Some(field),
                "must be text or a whole number",
            ));
            None
        }
    }
}
