//! The raw records of an import, one per entity, independent of the file format: every field is the
//! documented column name and holds text as written (`None` when absent or empty). CSV lines, JSON
//! objects and GraphQL inputs all become these before validation.

use serde::{Deserialize, Serialize};

/// A record type an import reads: its columns, and those that must be present.
pub(crate) trait Record: Sized + serde::de::DeserializeOwned {
    /// Every column, in the documented order.
    const COLUMNS: &'static [&'static str];
    /// Columns a CSV header must have (their values are required).
    const REQUIRED: &'static [&'static str];
}

/// The firearm columns, shared by traces (one firearm) and seizures (any number).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FirearmRecord {
    pub firearm_manufacturer: Option<String>,
    pub firearm_model: Option<String>,
    pub firearm_type: Option<String>,
    pub firearm_caliber: Option<String>,
    pub firearm_serial_number: Option<String>,
    pub firearm_country_of_manufacture: Option<String>,
    pub firearm_importer: Option<String>,
}

impl FirearmRecord {
    pub const COLUMNS: &'static [&'static str] = &FIREARM_COLUMNS;
    pub const REQUIRED: &'static [&'static str] = &FIREARM_REQUIRED;
}

const FIREARM_COLUMNS: [&str; 7] = [
    "firearm_manufacturer",
    "firearm_model",
    "firearm_type",
    "firearm_caliber",
    "firearm_serial_number",
    "firearm_country_of_manufacture",
    "firearm_importer",
];
const FIREARM_REQUIRED: [&str; 2] = ["firearm_manufacturer", "firearm_type"];

/// A record's own columns followed by the firearm's; `N` is `A + B`.
const fn with_firearm<const A: usize, const B: usize, const N: usize>(
    own: [&'static str; A],
    firearm: [&'static str; B],
) -> [&'static str; N] {
    assert!(A + B == N, "N must be A + B");
    let mut all = [""; N];
    let mut i = 0;
    while i < A {
        all[i] = own[i];
        i += 1;
    }
    while i < N {
        all[i] = firearm[i - A];
        i += 1;
    }
    all
}

/// One trace of a firearm recovered in Mexico; natural key `trace_number`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TraceRecord {
    pub trace_number: Option<String>,
    pub recovery_date: Option<String>,
    pub requesting_agency: Option<String>,
    pub recovery_state: Option<String>,
    pub recovery_municipality: Option<String>,
    pub status: Option<String>,
    pub source_class: Option<String>,
    pub purchase_state: Option<String>,
    pub purchase_date: Option<String>,
    pub time_to_crime_days: Option<String>,
    pub dealer_license: Option<String>,
    pub purchaser_name: Option<String>,
    #[serde(flatten)]
    pub firearm: FirearmRecord,
}

impl Record for TraceRecord {
    const COLUMNS: &'static [&'static str] = &with_firearm::<12, 7, 19>(
        [
            "trace_number",
            "recovery_date",
            "requesting_agency",
            "recovery_state",
            "recovery_municipality",
            "status",
            "source_class",
            "purchase_state",
            "purchase_date",
            "time_to_crime_days",
            "dealer_license",
            "purchaser_name",
        ],
        FIREARM_COLUMNS,
    );
    const REQUIRED: &'static [&'static str] = &with_firearm::<6, 2, 8>(
        [
            "trace_number",
            "recovery_date",
            "requesting_agency",
            "recovery_state",
            "status",
            "source_class",
        ],
        FIREARM_REQUIRED,
    );
}

/// One seizure with its firearms; natural key `case_number`. In CSV each line is one firearm and the
/// seizure columns repeat; in JSON the firearms are the `firearms` array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SeizureRecord {
    pub case_number: Option<String>,
    pub seizing_agency: Option<String>,
    pub operation: Option<String>,
    pub seized_on: Option<String>,
    pub us_state: Option<String>,
    pub port_of_entry: Option<String>,
    pub direction: Option<String>,
    pub concealment_method: Option<String>,
    pub ammunition_rounds: Option<String>,
    pub disposition: Option<String>,
    pub firearms: Vec<FirearmRecord>,
}

impl SeizureRecord {
    /// The seizure's own columns (without the firearm columns).
    pub const SEIZURE_COLUMNS: &'static [&'static str] = &SEIZURE_COLUMNS;
}

const SEIZURE_COLUMNS: [&str; 10] = [
    "case_number",
    "seizing_agency",
    "operation",
    "seized_on",
    "us_state",
    "port_of_entry",
    "direction",
    "concealment_method",
    "ammunition_rounds",
    "disposition",
];

impl Record for SeizureRecord {
    /// The CSV columns: the seizure's, then one firearm's.
    const COLUMNS: &'static [&'static str] =
        &with_firearm::<10, 7, 17>(SEIZURE_COLUMNS, FIREARM_COLUMNS);
    const REQUIRED: &'static [&'static str] = &with_firearm::<5, 2, 7>(
        [
            "case_number",
            "seizing_agency",
            "seized_on",
            "us_state",
            "direction",
        ],
        FIREARM_REQUIRED,
    );
}

/// One training event given to a Mexican agency; natural key `reference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingRecord {
    pub reference: Option<String>,
    pub course: Option<String>,
    pub provider: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub mexican_agency: Option<String>,
    pub mexican_state: Option<String>,
    pub participants: Option<String>,
    pub etrace_accounts_granted: Option<String>,
    pub funding_award_number: Option<String>,
}

impl Record for TrainingRecord {
    const COLUMNS: &'static [&'static str] = &[
        "reference",
        "course",
        "provider",
        "start_date",
        "end_date",
        "mexican_agency",
        "mexican_state",
        "participants",
        "etrace_accounts_granted",
        "funding_award_number",
    ];
    const REQUIRED: &'static [&'static str] = &[
        "reference",
        "course",
        "provider",
        "start_date",
        "end_date",
        "mexican_agency",
        "participants",
    ];
}

/// One funding award made by State; natural key `award_number`. Amounts in dollars as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FundingRecord {
    pub award_number: Option<String>,
    pub fiscal_year: Option<String>,
    pub program: Option<String>,
    pub category: Option<String>,
    pub implementing_agency: Option<String>,
    pub recipient: Option<String>,
    pub obligated: Option<String>,
    pub disbursed: Option<String>,
    pub description: Option<String>,
}

impl Record for FundingRecord {
    const COLUMNS: &'static [&'static str] = &[
        "award_number",
        "fiscal_year",
        "program",
        "category",
        "implementing_agency",
        "recipient",
        "obligated",
        "disbursed",
        "description",
    ];
    const REQUIRED: &'static [&'static str] = &[
        "award_number",
        "fiscal_year",
        "program",
        "category",
        "recipient",
        "obligated",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The column lists name exactly the serialized fields.
    fn columns_match<R: Record + Default + Serialize>(skip: &[&str]) {
        let value = serde_json::to_value(R::default()).unwrap_or_default();
        let mut fields: Vec<&str> = value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.retain(|f| !skip.contains(f));
        fields.sort_unstable();
        let mut columns = R::COLUMNS.to_vec();
        columns.retain(|c| !c.starts_with("firearm_") || skip.is_empty());
        columns.sort_unstable();
        assert_eq!(fields, columns);
    }

    #[test]
    fn column_lists_name_the_record_fields() {
        columns_match::<TraceRecord>(&[]);
        columns_match::<TrainingRecord>(&[]);
        columns_match::<FundingRecord>(&[]);
        columns_match::<SeizureRecord>(&["firearms"]);
    }
}
