//! Validation of raw records into the rows the store writes. Every problem of every row is collected;
//! a row yields a value only when it has none.

use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::str::FromStr;

use chrono::NaiveDate;
use entity::enums::Code;
use entity::firearm::normalize_serial;
use entity::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, SourceClass,
    TraceStatus, agency,
};

use super::RowError;
use super::records::{FirearmRecord, FundingRecord, SeizureRecord, TraceRecord, TrainingRecord};
use crate::domain::{calendar, codes, money};
use crate::store::import::{FirearmRow, FundingRow, SeizureRow, TraceRow, TrainingRow};

/// What validation needs from outside the rows: today, the caller, and the database look-ups.
pub(crate) struct Context {
    pub today: NaiveDate,
    pub acting: Option<Agency>,
    /// Agencies named by the rows that exist, by code.
    pub agencies: HashMap<String, agency::Model>,
    /// Funding awards named by the rows that exist, by award number.
    pub awards: HashMap<String, i64>,
    /// The acting agency's existing records the rows name (every agency's for the operator), by
    /// natural key, with their owner. Natural keys are unique per owning agency: another agency's
    /// record with the same key is a different record.
    pub owners: HashMap<String, Agency>,
}

/// Upper-case code as the database stores it.
pub(crate) fn code(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(|v| v.trim().to_ascii_uppercase())
        .filter(|v| !v.is_empty())
}

/// A natural key as the database stores it.
pub(crate) fn key(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The problems of one row; `prefix` names a nested record ("firearms[2].").
struct Row<'a> {
    row: usize,
    prefix: String,
    errors: &'a mut Vec<RowError>,
    start: usize,
}

impl<'a> Row<'a> {
    fn new(row: usize, errors: &'a mut Vec<RowError>) -> Row<'a> {
        let start = errors.len();
        Row {
            row,
            prefix: String::new(),
            errors,
            start,
        }
    }

    fn failed(&self) -> bool {
        self.errors.len() > self.start
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        let field = format!("{}{field}", self.prefix);
        self.errors
            .push(RowError::new(self.row, Some(&field), message.into()));
    }

    fn fail_row(&mut self, message: impl Into<String>) {
        self.errors
            .push(RowError::new(self.row, None, message.into()));
    }

    /// Trimmed text, `None` when absent; too long is an error.
    fn text(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        let text = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
        let length = text.chars().count();
        if length > max {
            self.fail(
                field,
                format!("is {length} characters long; at most {max} are allowed"),
            );
            return None;
        }
        Some(text.to_owned())
    }

    fn required(&mut self, field: &str, value: &Option<String>, max: usize) -> Option<String> {
        let present = value.as_deref().is_some_and(|v| !v.trim().is_empty());
        if !present {
            self.fail(field, "is required");
            return None;
        }
        self.text(field, value, max)
    }

    /// A short value (at most 64 characters), required or optional.
    fn value(&mut self, field: &str, value: &Option<String>, required: bool) -> Option<String> {
        if required {
            self.required(field, value, 64)
        } else {
            self.text(field, value, 64)
        }
    }

    fn date(&mut self, field: &str, value: &Option<String>, required: bool) -> Option<NaiveDate> {
        let text = self.value(field, value, required)?;
        match calendar::parse_date(&text) {
            Ok(date) => Some(date),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    fn not_future(&mut self, field: &str, date: Option<NaiveDate>, today: NaiveDate) {
        if let Some(date) = date
            && date > today
        {
            self.fail(field, format!("{date} is in the future"));
        }
    }

    fn integer<T>(
        &mut self,
        field: &str,
        value: &Option<String>,
        required: bool,
        min: T,
    ) -> Option<T>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let text = self.value(field, value, required)?;
        match text.parse::<T>() {
            Ok(n) if n < min => {
                self.fail(field, format!("{n} is less than {min}"));
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                self.fail(field, format!("'{text}' is not a whole number"));
                None
            }
        }
    }

    /// One of a code list's words.
    fn choice<E: Code>(
        &mut self,
        field: &str,
        value: &Option<String>,
        required: bool,
    ) -> Option<E> {
        self.choice_among(field, value, required, E::ALL)
    }

    /// Any word of a code list; a problem names the `listed` ones.
    fn choice_among<E: Code>(
        &mut self,
        field: &str,
        value: &Option<String>,
        required: bool,
        listed: &[E],
    ) -> Option<E> {
        let text = self.value(field, value, required)?;
        let parsed = E::parse(&text);
        if parsed.is_none() {
            let allowed: Vec<&str> = listed.iter().map(|e| e.as_str()).collect();
            self.fail(
                field,
                format!("'{text}' is not one of {}", allowed.join(", ")),
            );
        }
        parsed
    }

    fn money(&mut self, field: &str, value: &Option<String>, required: bool) -> Option<i64> {
        let text = self.value(field, value, required)?;
        match money::parse_dollars(&text) {
            Ok(cents) => Some(cents),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    fn mx_state(&mut self, field: &str, value: &Option<String>, required: bool) -> Option<String> {
        let text = self.value(field, value, required)?;
        let code = text.to_ascii_uppercase();
        if codes::is_mx_state(&code) {
            Some(code)
        } else {
            self.fail(
                field,
                format!("'{text}' is not an ISO 3166-2:MX state code such as MX-SON"),
            );
            None
        }
    }

    fn us_state(&mut self, field: &str, value: &Option<String>, required: bool) -> Option<String> {
        let text = self.value(field, value, required)?;
        let code = text.to_ascii_uppercase();
        if codes::is_us_state(&code) {
            Some(code)
        } else {
            self.fail(
                field,
                format!("'{text}' is not a USPS state code such as TX"),
            );
            None
        }
    }

    /// One of `allowed` agencies; another agency is refused with `refusal` ("does not ...").
    fn agency_among(
        &mut self,
        field: &str,
        value: &Option<String>,
        allowed: &[Agency],
        refusal: &str,
    ) -> Option<Agency> {
        let agency = self.choice_among(field, value, true, allowed)?;
        if allowed.contains(&agency) {
            return Some(agency);
        }
        self.fail(field, format!("'{agency}' {refusal}"));
        None
    }

    /// A Mexican agency that exists in the `agency` table.
    fn mexican_agency<'c>(
        &mut self,
        field: &str,
        value: &Option<String>,
        context: &'c Context,
    ) -> Option<&'c agency::Model> {
        self.required(field, value, 16)?;
        let code = code(value)?;
        match context.agencies.get(&code) {
            None => {
                self.fail(field, format!("unknown agency '{code}'"));
                None
            }
            Some(found) if found.country != "MX" => {
                self.fail(field, format!("'{code}' is not a Mexican agency"));
                None
            }
            Some(found) => Some(found),
        }
    }

    /// The caller may write only records its own agency owns.
    fn owned_by(&mut self, field: Option<&str>, owner: Agency, context: &Context) {
        if let Some(acting) = context.acting
            && acting != owner
        {
            let message = format!("{acting} may not import records owned by {owner}");
            match field {
                Some(field) => self.fail(field, message),
                None => self.fail_row(message),
            }
        }
    }
}

/// Reports the second and later rows with the same natural key.
struct Duplicates {
    seen: HashMap<String, usize>,
}

impl Duplicates {
    fn new() -> Self {
        Duplicates {
            seen: HashMap::new(),
        }
    }

    fn check(&mut self, row: &mut Row<'_>, field: &str, key: &Option<String>) {
        if let Some(key) = key {
            match self.seen.get(key) {
                Some(first) => {
                    let message = format!("'{key}' is given more than once (first at {first})");
                    row.fail(field, message);
                }
                None => {
                    self.seen.insert(key.clone(), row.row);
                }
            }
        }
    }
}

fn firearm(row: &mut Row<'_>, record: &FirearmRecord) -> Option<FirearmRow> {
    let manufacturer = row.required("firearm_manufacturer", &record.firearm_manufacturer, 100);
    let model = row.text("firearm_model", &record.firearm_model, 100);
    let firearm_type = row.choice::<FirearmType>("firearm_type", &record.firearm_type, true);
    let caliber = row.text("firearm_caliber", &record.firearm_caliber, 32);
    let serial_number = row.text("firearm_serial_number", &record.firearm_serial_number, 64);
    let serial_normalized = serial_number.as_deref().and_then(normalize_serial);
    if let Some(serial) = &serial_number
        && serial_normalized.is_none()
    {
        row.fail(
            "firearm_serial_number",
            format!("'{serial}' has no letters or digits"),
        );
    }
    let country = row
        .text(
            "firearm_country_of_manufacture",
            &record.firearm_country_of_manufacture,
            2,
        )
        .map(|c| c.to_ascii_uppercase());
    if let Some(country) = &country
        && !codes::is_country_code(country)
    {
        row.fail(
            "firearm_country_of_manufacture",
            format!("'{country}' is not an ISO 3166-1 alpha-2 country code such as US"),
        );
    }
    let importer = row.text("firearm_importer", &record.firearm_importer, 100);
    Some(FirearmRow {
        manufacturer: manufacturer?,
        model,
        firearm_type: firearm_type?,
        caliber,
        serial_number,
        serial_normalized,
        country_of_manufacture: country,
        importer,
    })
}

/// Validates every record with `one`, collecting every problem of every row. A row yields its
/// value only when it has no problem; `one` answers `None` without a problem only for a record
/// that is incomplete.
fn each<R, T>(
    rows: &[(usize, R)],
    mut one: impl FnMut(&mut Row<'_>, &R) -> Option<T>,
) -> (Vec<T>, Vec<RowError>) {
    let mut errors = Vec::new();
    let mut valid = Vec::with_capacity(rows.len());
    for (number, record) in rows {
        let mut row = Row::new(*number, &mut errors);
        let checked = one(&mut row, record);
        if row.failed() {
            continue;
        }
        match checked {
            Some(value) => valid.push(value),
            None => row.fail_row("is incomplete"),
        }
    }
    (valid, errors)
}

pub(crate) fn traces(
    rows: &[(usize, TraceRecord)],
    context: &Context,
) -> (Vec<TraceRow>, Vec<RowError>) {
    let mut duplicates = Duplicates::new();
    each(rows, |row, record| {
        trace(row, record, context, &mut duplicates)
    })
}

fn trace(
    row: &mut Row<'_>,
    record: &TraceRecord,
    context: &Context,
    duplicates: &mut Duplicates,
) -> Option<TraceRow> {
    let trace_number = row.required("trace_number", &record.trace_number, 32);
    duplicates.check(row, "trace_number", &trace_number);
    row.owned_by(None, Agency::Atf, context);
    let recovery_date = row.date("recovery_date", &record.recovery_date, true);
    row.not_future("recovery_date", recovery_date, context.today);
    let requesting_agency = row
        .mexican_agency("requesting_agency", &record.requesting_agency, context)
        .map(|a| a.code.clone());
    let recovery_state = row.mx_state("recovery_state", &record.recovery_state, true);
    let municipality = row.text("recovery_municipality", &record.recovery_municipality, 100);
    let status = row.choice::<TraceStatus>("status", &record.status, true);
    let source_class = row.choice::<SourceClass>("source_class", &record.source_class, true);
    let purchase_state = row.us_state("purchase_state", &record.purchase_state, false);
    let purchase_date = row.date("purchase_date", &record.purchase_date, false);
    row.not_future("purchase_date", purchase_date, context.today);
    let time_to_crime = time_to_crime(row, record, purchase_date, recovery_date);
    let dealer_license = row.text("dealer_license", &record.dealer_license, 32);
    let purchaser_name = row.text("purchaser_name", &record.purchaser_name, 200);
    let firearm = firearm(row, &record.firearm);
    origin_agrees(row, source_class, &record.firearm);
    let recovery_date = recovery_date?;
    Some(TraceRow {
        trace_number: trace_number?,
        requesting_agency: requesting_agency?,
        recovery_year: chrono::Datelike::year(&recovery_date),
        recovery_date,
        recovery_state: recovery_state?,
        recovery_municipality: municipality,
        status: status?,
        source_class: source_class?,
        purchase_state,
        purchase_date,
        time_to_crime_days: time_to_crime,
        dealer_license,
        purchaser_name,
        owner_agency: Agency::Atf,
        firearm: firearm?,
    })
}

/// The days from purchase to recovery: as given, which must agree with the dates, or computed
/// from them.
fn time_to_crime(
    row: &mut Row<'_>,
    record: &TraceRecord,
    purchase_date: Option<NaiveDate>,
    recovery_date: Option<NaiveDate>,
) -> Option<i32> {
    let given = row.integer("time_to_crime_days", &record.time_to_crime_days, false, 0);
    let (Some(purchased), Some(recovered)) = (purchase_date, recovery_date) else {
        return given;
    };
    let days = (recovered - purchased).num_days();
    if purchased > recovered {
        row.fail(
            "purchase_date",
            format!("{purchased} is after recovery_date {recovered}"),
        );
        return given;
    }
    match given {
        Some(given) if i64::from(given) != days => {
            row.fail(
                "time_to_crime_days",
                format!("{given} disagrees with recovery_date - purchase_date = {days} days"),
            );
            Some(given)
        }
        Some(given) => Some(given),
        None => i32::try_from(days).ok(),
    }
}

/// The firearm's country of manufacture must agree with the trace's source class.
fn origin_agrees(row: &mut Row<'_>, source_class: Option<SourceClass>, firearm: &FirearmRecord) {
    let country = code(&firearm.firearm_country_of_manufacture);
    let (Some(class), Some(country)) = (source_class, country.as_deref()) else {
        return;
    };
    let made_in_us = country == "US";
    if class == SourceClass::UsManufactured && !made_in_us {
        row.fail(
            "firearm_country_of_manufacture",
            format!("'{country}' contradicts source_class US_MANUFACTURED"),
        );
    } else if matches!(class, SourceClass::UsImported | SourceClass::Foreign) && made_in_us {
        row.fail(
            "firearm_country_of_manufacture",
            format!("'US' contradicts source_class {class}"),
        );
    }
}

pub(crate) fn seizures(
    rows: &[(usize, SeizureRecord)],
    context: &Context,
) -> (Vec<SeizureRow>, Vec<RowError>) {
    let mut duplicates = Duplicates::new();
    each(rows, |row, record| {
        seizure(row, record, context, &mut duplicates)
    })
}

fn seizure(
    row: &mut Row<'_>,
    record: &SeizureRecord,
    context: &Context,
    duplicates: &mut Duplicates,
) -> Option<SeizureRow> {
    let case_number = row.required("case_number", &record.case_number, 32);
    duplicates.check(row, "case_number", &case_number);
    let seizing_agency = row.agency_among(
        "seizing_agency",
        &record.seizing_agency,
        &[Agency::Cbp, Agency::Ice],
        "does not seize firearms; use CBP or ICE",
    );
    if let Some(owner) = seizing_agency {
        row.owned_by(Some("seizing_agency"), owner, context);
    }
    let operation = row.text("operation", &record.operation, 100);
    let seized_on = row.date("seized_on", &record.seized_on, true);
    row.not_future("seized_on", seized_on, context.today);
    let us_state = row.us_state("us_state", &record.us_state, true);
    let port_of_entry = row.text("port_of_entry", &record.port_of_entry, 64);
    let direction = row.choice::<Direction>("direction", &record.direction, true);
    let concealment_method = row.text("concealment_method", &record.concealment_method, 100);
    let ammunition_rounds = row
        .integer::<i64>("ammunition_rounds", &record.ammunition_rounds, false, 0)
        .unwrap_or(0);
    let disposition = row.choice::<Disposition>("disposition", &record.disposition, false);
    let firearms = seized_firearms(row, &record.firearms);
    let seized_on = seized_on?;
    let seizing_agency = seizing_agency?;
    Some(SeizureRow {
        case_number: case_number?,
        seizing_agency,
        operation,
        fiscal_year: calendar::fiscal_year(seized_on),
        seized_on,
        us_state: us_state?,
        port_of_entry,
        direction: direction?,
        concealment_method,
        ammunition_rounds,
        disposition,
        owner_agency: seizing_agency,
        firearms,
    })
}

/// A seizure's firearms, each named `firearms[i].` in its problems; the same firearm (serial and
/// manufacturer) may not be listed twice.
fn seized_firearms(row: &mut Row<'_>, records: &[FirearmRecord]) -> Vec<FirearmRow> {
    let mut firearms = Vec::with_capacity(records.len());
    let mut identities: HashMap<(String, String), usize> = HashMap::new();
    for (index, f) in records.iter().enumerate() {
        row.prefix = format!("firearms[{index}].");
        if let Some(checked) = firearm(row, f) {
            if let Some(serial) = &checked.serial_normalized {
                let identity = (serial.clone(), checked.manufacturer.to_lowercase());
                if let Some(first) = identities.insert(identity, index) {
                    row.fail(
                        "firearm_serial_number",
                        format!(
                            "the same firearm ({} serial {serial}) is listed twice in this \
                             seizure (also firearms[{first}])",
                            checked.manufacturer
                        ),
                    );
                }
            }
            firearms.push(checked);
        }
    }
    row.prefix.clear();
    firearms
}

pub(crate) fn trainings(
    rows: &[(usize, TrainingRecord)],
    context: &Context,
) -> (Vec<TrainingRow>, Vec<RowError>) {
    let mut duplicates = Duplicates::new();
    each(rows, |row, record| {
        training(row, record, context, &mut duplicates)
    })
}

fn training(
    row: &mut Row<'_>,
    record: &TrainingRecord,
    context: &Context,
    duplicates: &mut Duplicates,
) -> Option<TrainingRow> {
    let reference = row.required("reference", &record.reference, 48);
    duplicates.check(row, "reference", &reference);
    let course = row.choice::<CourseKind>("course", &record.course, true);
    let provider = row.agency_among(
        "provider",
        &record.provider,
        &[Agency::Atf, Agency::State],
        "does not provide training; use ATF or STATE",
    );
    if let Some(owner) = provider {
        row.owned_by(Some("provider"), owner, context);
    }
    let start_date = row.date("start_date", &record.start_date, true);
    let end_date = row.date("end_date", &record.end_date, true);
    if let (Some(start), Some(end)) = (start_date, end_date)
        && end < start
    {
        row.fail("end_date", format!("{end} is before start_date {start}"));
    }
    let agency = row.mexican_agency("mexican_agency", &record.mexican_agency, context);
    let mexican_state = trained_state(row, record, agency);
    let participants = row.integer::<i32>("participants", &record.participants, true, 1);
    let accounts = etrace_accounts(row, record, participants);
    let funding_award_id = funding_award(row, record, context);
    let start_date = start_date?;
    let provider = provider?;
    Some(TrainingRow {
        reference: reference?,
        course: course?,
        provider,
        fiscal_year: calendar::fiscal_year(start_date),
        start_date,
        end_date: end_date?,
        mexican_agency: agency?.code.clone(),
        mexican_state,
        participants: participants?,
        etrace_accounts_granted: accounts,
        funding_award_id,
        owner_agency: provider,
    })
}

/// The Mexican state of a training: as given, which must be the agency's own state when it has
/// one, or the agency's state.
fn trained_state(
    row: &mut Row<'_>,
    record: &TrainingRecord,
    agency: Option<&agency::Model>,
) -> Option<String> {
    let mexican_state = row.mx_state("mexican_state", &record.mexican_state, false);
    let Some((agency, agency_state)) = agency.and_then(|a| a.mx_state.as_ref().map(|s| (a, s)))
    else {
        return mexican_state;
    };
    match mexican_state {
        Some(given) if given != *agency_state => {
            row.fail(
                "mexican_state",
                format!(
                    "'{given}' does not match {}'s state {agency_state}",
                    agency.code
                ),
            );
            Some(given)
        }
        Some(given) => Some(given),
        None => Some(agency_state.clone()),
    }
}

/// The eTrace accounts granted (0 when absent), at most one per participant.
fn etrace_accounts(row: &mut Row<'_>, record: &TrainingRecord, participants: Option<i32>) -> i32 {
    let accounts = row
        .integer::<i32>(
            "etrace_accounts_granted",
            &record.etrace_accounts_granted,
            false,
            0,
        )
        .unwrap_or(0);
    if let Some(participants) = participants
        && accounts > participants
    {
        row.fail(
            "etrace_accounts_granted",
            format!("{accounts} is more than the {participants} participants"),
        );
    }
    accounts
}

/// The id of the funding award a training names, which must exist.
fn funding_award(row: &mut Row<'_>, record: &TrainingRecord, context: &Context) -> Option<i64> {
    let number = row.text("funding_award_number", &record.funding_award_number, 32)?;
    let id = context.awards.get(&number).copied();
    if id.is_none() {
        row.fail(
            "funding_award_number",
            format!("unknown funding award '{number}' (import the funding first)"),
        );
    }
    id
}

pub(crate) fn funding(
    rows: &[(usize, FundingRecord)],
    context: &Context,
) -> (Vec<FundingRow>, Vec<RowError>) {
    let mut duplicates = Duplicates::new();
    let latest_year = calendar::fiscal_year(context.today) + 5;
    each(rows, |row, record| {
        award(row, record, context, &mut duplicates, latest_year)
    })
}

fn award(
    row: &mut Row<'_>,
    record: &FundingRecord,
    context: &Context,
    duplicates: &mut Duplicates,
    latest_year: i32,
) -> Option<FundingRow> {
    let award_number = row.required("award_number", &record.award_number, 32);
    duplicates.check(row, "award_number", &award_number);
    row.owned_by(None, Agency::State, context);
    let fiscal_year = row.integer::<i32>("fiscal_year", &record.fiscal_year, true, 1990);
    if let Some(year) = fiscal_year
        && year > latest_year
    {
        row.fail(
            "fiscal_year",
            format!("{year} is after FY{latest_year}, five years from now"),
        );
    }
    let program = row.required("program", &record.program, 100);
    let category = row.choice::<FundingCategory>("category", &record.category, true);
    let implementing_agency =
        row.choice::<Agency>("implementing_agency", &record.implementing_agency, false);
    let recipient = row.required("recipient", &record.recipient, 200);
    let obligated = row.money("obligated", &record.obligated, true);
    let disbursed = row
        .money("disbursed", &record.disbursed, false)
        .unwrap_or(0);
    if let Some(obligated) = obligated
        && disbursed > obligated
    {
        row.fail(
            "disbursed",
            format!(
                "{} is more than the {} obligated",
                money::format_cents(disbursed),
                money::format_cents(obligated)
            ),
        );
    }
    let description = row.text("description", &record.description, 10_000);
    Some(FundingRow {
        award_number: award_number?,
        fiscal_year: fiscal_year?,
        program: program?,
        category: category?,
        implementing_agency,
        recipient: recipient?,
        obligated_cents: obligated?,
        disbursed_cents: disbursed,
        description,
        owner_agency: Agency::State,
    })
}

/// The distinct codes in `values`, for the look-ups.
pub(crate) fn distinct<'a>(
    values: impl Iterator<Item = &'a Option<String>>,
    normalize: fn(&Option<String>) -> Option<String>,
) -> std::collections::BTreeSet<String> {
    values.filter_map(normalize).collect()
}

/// Rows that have at least one problem.
pub(crate) fn rejected_rows(errors: &[RowError]) -> usize {
    errors.iter().map(|e| e.row).collect::<HashSet<_>>().len()
}
