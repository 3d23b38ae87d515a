//! Firearms: what one agency recorded about a gun, owned by that agency and held by its traces or
//! seizures. The serial is kept as recorded and normalized, so another agency's record of the same
//! gun can be linked to it (`firearm_link`).

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

/// Normalizes a manufacturer's name for matching: trimmed, lower case, inner runs of whitespace as
/// one space ("  Smith  &  Wesson " and "smith & wesson" match).
pub fn normalize_manufacturer(recorded: &str) -> String {
    recorded
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::{normalize_manufacturer, normalize_serial};

    #[test]
    fn manufacturers_match_across_case_and_spacing() {
        assert_eq!(
            normalize_manufacturer("  Smith  &\tWesson "),
            "smith & wesson"
        );
        assert_eq!(
            normalize_manufacturer("GLOCK"),
            normalize_manufacturer("glock")
        );
    }

    #[test]
    fn serials_match_across_case_spaces_dashes_and_leading_zeros() {
        assert_eq!(normalize_serial("abc-00 123"), Some("ABC00123".into()));
        assert_eq!(normalize_serial(" 000451 "), Some("451".into()));
        assert_eq!(normalize_serial("0-0-0"), Some("0".into()));
        assert_eq!(normalize_serial(" - "), None);
    }
}
