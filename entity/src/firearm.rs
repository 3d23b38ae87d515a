//! Firearms: shared between traces and seizures. The serial is kept as recorded and normalized, so a
//! seized gun can be matched to a traced one.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::enums::{Agency, FirearmType};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "firearm")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub manufacturer: String,
    pub model: Option<String>,
    pub firearm_type: FirearmType,
    pub caliber: Option<String>,
    /// The serial number as it was recorded.
    pub serial_number: Option<String>,
    /// Upper case, without spaces, dashes or leading zeros; see `normalize_serial`.
    pub serial_normalized: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country_of_manufacture: Option<String>,
    pub importer: Option<String>,
    pub owner_agency: Agency,
    pub source_system: String,
    pub ingested_at: DateTimeUtc,
    pub version: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::trace::Entity")]
    Trace,
    #[sea_orm(has_many = "super::seizure_firearm::Entity")]
    SeizureFirearm,
}

related!(trace => Trace);

related!(seizure through seizure_firearm: Firearm -> Seizure);

impl ActiveModelBehavior for ActiveModel {}

/// Normalizes a serial number for matching: upper case, only letters and digits, leading zeros
/// dropped ("abc-00 123" and "ABC00123" both become "ABC00123"; "000451" becomes "451").
/// Returns `None` when nothing is left.
pub fn normalize_serial(recorded: &str) -> Option<String> {
    let kept: String = recorded
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let trimmed = kept.trim_start_matches('0');
    if trimmed.is_empty() {
        if kept.is_empty() {
            None
        } else {
            Some("0".to_owned())
        }
    } else {
        Some(trimmed.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_serial;

    #[test]
    fn serials_match_across_case_spaces_dashes_and_leading_zeros() {
        assert_eq!(normalize_serial("abc-00 123"), Some("ABC00123".into()));
        assert_eq!(normalize_serial(" 000451 "), Some("451".into()));
        assert_eq!(normalize_serial("0-0-0"), Some("0".into()));
        assert_eq!(normalize_serial(" - "), None);
    }
}
