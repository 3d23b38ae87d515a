//! The write inputs: they mirror the writable fields of their types. Each converts into the
//! import core's raw record, so the API and bulk import validate with the same rules.

use async_graphql::{InputObject, MaybeUndefined};
use entity::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, SourceClass,
    TraceStatus, firearm, funding_award, seizure, trace, training_event,
};

use crate::domain::money::format_cents;
use crate::domain::scalars::{Date, Money};
use crate::import::{FirearmRecord, FundingRecord, SeizureRecord, TraceRecord, TrainingRecord};

fn text<T: ToString>(value: T) -> Option<String> {
    Some(value.to_string())
}

fn date(value: Date) -> Option<String> {
    Some(value.0.format("%Y-%m-%d").to_string())
}

/// Applies a patch field: undefined keeps, null clears, a value sets.
fn patch<T>(
    current: Option<String>,
    value: MaybeUndefined<T>,
    render: impl Fn(T) -> Option<String>,
) -> Option<String> {
    match value {
        MaybeUndefined::Undefined => current,
        MaybeUndefined::Null => None,
        MaybeUndefined::Value(v) => render(v),
    }
}

/// Applies a patch field that may not be cleared.
fn set<T>(
    current: Option<String>,
    value: Option<T>,
    render: impl Fn(T) -> Option<String>,
) -> Option<String> {
    value.and_then(render).or(current)
}

#[derive(Debug, Clone, InputObject)]
pub struct FirearmInput {
    pub manufacturer: String,
    pub model: Option<String>,
    #[graphql(name = "type")]
    pub firearm_type: FirearmType,
    pub caliber: Option<String>,
    pub serial_number: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country_of_manufacture: Option<String>,
    pub importer: Option<String>,
}

impl From<FirearmInput> for FirearmRecord {
    fn from(f: FirearmInput) -> Self {
        FirearmRecord {
            firearm_manufacturer: Some(f.manufacturer),
            firearm_model: f.model,
            firearm_type: text(f.firearm_type),
            firearm_caliber: f.caliber,
            firearm_serial_number: f.serial_number,
            firearm_country_of_manufacture: f.country_of_manufacture,
            firearm_importer: f.importer,
        }
    }
}

/// The record of a stored firearm, for merging a patch.
pub(crate) fn firearm_record(f: &firearm::Model) -> FirearmRecord {
    FirearmRecord {
        firearm_manufacturer: Some(f.manufacturer.clone()),
        firearm_model: f.model.clone(),
        firearm_type: text(f.firearm_type),
        firearm_caliber: f.caliber.clone(),
        firearm_serial_number: f.serial_number.clone(),
        firearm_country_of_manufacture: f.country_of_manufacture.clone(),
        firearm_importer: f.importer.clone(),
    }
}

#[derive(Debug, Clone, InputObject)]
pub(crate) struct TraceInput {
    pub trace_number: String,
    pub firearm: FirearmInput,
    pub requesting_agency: String,
    pub recovery_date: Date,
    pub recovery_state: String,
    pub recovery_municipality: Option<String>,
    pub status: TraceStatus,
    pub source_class: SourceClass,
    pub purchase_state: Option<String>,
    pub purchase_date: Option<Date>,
    pub time_to_crime_days: Option<i32>,
    pub dealer_license: Option<String>,
    pub purchaser_name: Option<String>,
}

impl From<TraceInput> for TraceRecord {
    fn from(t: TraceInput) -> Self {
        TraceRecord {
            trace_number: Some(t.trace_number),
            recovery_date: date(t.recovery_date),
            requesting_agency: Some(t.requesting_agency),
            recovery_state: Some(t.recovery_state),
            recovery_municipality: t.recovery_municipality,
            status: text(t.status),
            source_class: text(t.source_class),
            purchase_state: t.purchase_state,
            purchase_date: t.purchase_date.and_then(date),
            time_to_crime_days: t.time_to_crime_days.and_then(text),
            dealer_license: t.dealer_license,
            purchaser_name: t.purchaser_name,
            firearm: t.firearm.into(),
        }
    }
}

/// Changes to a trace; absent fields stay as they are, `null` clears a nullable one.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct TracePatch {
    pub firearm: Option<FirearmInput>,
    pub requesting_agency: Option<String>,
    pub recovery_date: Option<Date>,
    pub recovery_state: Option<String>,
    pub recovery_municipality: MaybeUndefined<String>,
    pub status: Option<TraceStatus>,
    pub source_class: Option<SourceClass>,
    pub purchase_state: MaybeUndefined<String>,
    pub purchase_date: MaybeUndefined<Date>,
    pub time_to_crime_days: MaybeUndefined<i32>,
    pub dealer_license: MaybeUndefined<String>,
    pub purchaser_name: MaybeUndefined<String>,
}

impl TracePatch {
    /// The stored trace (unmasked) with this patch applied.
    pub(crate) fn apply(self, t: &trace::Model, f: &firearm::Model) -> TraceRecord {
        TraceRecord {
            trace_number: Some(t.trace_number.clone()),
            recovery_date: set(date(Date(t.recovery_date)), self.recovery_date, date),
            requesting_agency: set(
                Some(t.requesting_agency.clone()),
                self.requesting_agency,
                Some,
            ),
            recovery_state: set(Some(t.recovery_state.clone()), self.recovery_state, Some),
            recovery_municipality: patch(
                t.recovery_municipality.clone(),
                self.recovery_municipality,
                Some,
            ),
            status: set(text(t.status), self.status, text),
            source_class: set(text(t.source_class), self.source_class, text),
            purchase_state: patch(t.purchase_state.clone(), self.purchase_state, Some),
            purchase_date: patch(
                t.purchase_date.map(|d| d.to_string()),
                self.purchase_date,
                date,
            ),
            time_to_crime_days: patch(
                t.time_to_crime_days.and_then(text),
                self.time_to_crime_days,
                text,
            ),
            dealer_license: patch(t.dealer_license.clone(), self.dealer_license, Some),
            purchaser_name: patch(t.purchaser_name.clone(), self.purchaser_name, Some),
            firearm: self.firearm.map_or_else(|| firearm_record(f), Into::into),
        }
    }
}

#[derive(Debug, Clone, InputObject)]
pub struct SeizureInput {
    pub case_number: String,
    pub seizing_agency: Agency,
    pub operation: Option<String>,
    pub seized_on: Date,
    pub us_state: String,
    pub port_of_entry: Option<String>,
    pub direction: Direction,
    pub concealment_method: Option<String>,
    #[graphql(default)]
    pub ammunition_rounds: i64,
    /// What became of the seized firearms, once known.
    pub disposition: Option<Disposition>,
    pub firearms: Vec<FirearmInput>,
}

impl From<SeizureInput> for SeizureRecord {
    fn from(s: SeizureInput) -> Self {
        SeizureRecord {
            case_number: Some(s.case_number),
            seizing_agency: text(s.seizing_agency),
            operation: s.operation,
            seized_on: date(s.seized_on),
            us_state: Some(s.us_state),
            port_of_entry: s.port_of_entry,
            direction: text(s.direction),
            concealment_method: s.concealment_method,
            ammunition_rounds: text(s.ammunition_rounds),
            disposition: s.disposition.and_then(text),
            firearms: s.firearms.into_iter().map(Into::into).collect(),
        }
    }
}

/// Changes to a seizure; `firearms`, when given, replaces the list.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct SeizurePatch {
    pub operation: MaybeUndefined<String>,
    pub seized_on: Option<Date>,
    pub us_state: Option<String>,
    pub port_of_entry: MaybeUndefined<String>,
    pub direction: Option<Direction>,
    pub concealment_method: MaybeUndefined<String>,
    pub ammunition_rounds: Option<i64>,
    pub disposition: MaybeUndefined<Disposition>,
    pub firearms: Option<Vec<FirearmInput>>,
}

impl SeizurePatch {
    pub(crate) fn apply(self, s: &seizure::Model, firearms: &[firearm::Model]) -> SeizureRecord {
        SeizureRecord {
            case_number: Some(s.case_number.clone()),
            seizing_agency: text(s.seizing_agency),
            operation: patch(s.operation.clone(), self.operation, Some),
            seized_on: set(date(Date(s.seized_on)), self.seized_on, date),
            us_state: set(Some(s.us_state.clone()), self.us_state, Some),
            port_of_entry: patch(s.port_of_entry.clone(), self.port_of_entry, Some),
            direction: set(text(s.direction), self.direction, text),
            concealment_method: patch(s.concealment_method.clone(), self.concealment_method, Some),
            ammunition_rounds: set(text(s.ammunition_rounds), self.ammunition_rounds, text),
            disposition: patch(s.disposition.and_then(text), self.disposition, text),
            firearms: match self.firearms {
                Some(list) => list.into_iter().map(Into::into).collect(),
                None => firearms.iter().map(firearm_record).collect(),
            },
        }
    }
}

#[derive(Debug, Clone, InputObject)]
pub struct TrainingInput {
    /// The provider's reference for the event; unique.
    pub reference: String,
    pub course: CourseKind,
    pub provider: Agency,
    pub start_date: Date,
    pub end_date: Date,
    pub mexican_agency: String,
    pub mexican_state: Option<String>,
    pub participants: i32,
    #[graphql(default)]
    pub etrace_accounts_granted: i32,
    /// The award number of the funding award that paid for the event.
    pub funding_award_number: Option<String>,
}

impl From<TrainingInput> for TrainingRecord {
    fn from(t: TrainingInput) -> Self {
        TrainingRecord {
            reference: Some(t.reference),
            course: text(t.course),
            provider: text(t.provider),
            start_date: date(t.start_date),
            end_date: date(t.end_date),
            mexican_agency: Some(t.mexican_agency),
            mexican_state: t.mexican_state,
            participants: text(t.participants),
            etrace_accounts_granted: text(t.etrace_accounts_granted),
            funding_award_number: t.funding_award_number,
        }
    }
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct TrainingPatch {
    pub course: Option<CourseKind>,
    pub start_date: Option<Date>,
    pub end_date: Option<Date>,
    pub mexican_agency: Option<String>,
    pub mexican_state: MaybeUndefined<String>,
    pub participants: Option<i32>,
    pub etrace_accounts_granted: Option<i32>,
    pub funding_award_number: MaybeUndefined<String>,
}

impl TrainingPatch {
    pub(crate) fn apply(
        self,
        t: &training_event::Model,
        award_number: Option<String>,
    ) -> TrainingRecord {
        TrainingRecord {
            reference: Some(t.reference.clone()),
            course: set(text(t.course), self.course, text),
            provider: text(t.provider),
            start_date: set(date(Date(t.start_date)), self.start_date, date),
            end_date: set(date(Date(t.end_date)), self.end_date, date),
            mexican_agency: set(Some(t.mexican_agency.clone()), self.mexican_agency, Some),
            mexican_state: patch(t.mexican_state.clone(), self.mexican_state, Some),
            participants: set(text(t.participants), self.participants, text),
            etrace_accounts_granted: set(
                text(t.etrace_accounts_granted),
                self.etrace_accounts_granted,
                text,
            ),
            funding_award_number: patch(award_number, self.funding_award_number, Some),
        }
    }
}

#[derive(Debug, Clone, InputObject)]
pub struct FundingAwardInput {
    /// State's award identifier; unique.
    pub award_number: String,
    pub fiscal_year: i32,
    pub program: String,
    pub category: FundingCategory,
    pub implementing_agency: Option<Agency>,
    pub recipient: String,
    pub obligated: Money,
    pub disbursed: Money,
    pub description: Option<String>,
}

impl From<FundingAwardInput> for FundingRecord {
    fn from(a: FundingAwardInput) -> Self {
        FundingRecord {
            award_number: Some(a.award_number),
            fiscal_year: text(a.fiscal_year),
            program: Some(a.program),
            category: text(a.category),
            implementing_agency: a.implementing_agency.and_then(text),
            recipient: Some(a.recipient),
            obligated: Some(format_cents(a.obligated.0)),
            disbursed: Some(format_cents(a.disbursed.0)),
            description: a.description,
        }
    }
}

#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct FundingAwardPatch {
    pub fiscal_year: Option<i32>,
    pub program: Option<String>,
    pub category: Option<FundingCategory>,
    pub implementing_agency: MaybeUndefined<Agency>,
    pub recipient: Option<String>,
    pub obligated: Option<Money>,
    pub disbursed: Option<Money>,
    pub description: MaybeUndefined<String>,
}

impl FundingAwardPatch {
    pub(crate) fn apply(self, a: &funding_award::Model) -> FundingRecord {
        let money = |m: Money| Some(format_cents(m.0));
        FundingRecord {
            award_number: Some(a.award_number.clone()),
            fiscal_year: set(text(a.fiscal_year), self.fiscal_year, text),
            program: set(Some(a.program.clone()), self.program, Some),
            category: set(text(a.category), self.category, text),
            implementing_agency: patch(
                a.implementing_agency.and_then(text),
                self.implementing_agency,
                text,
            ),
            recipient: set(Some(a.recipient.clone()), self.recipient, Some),
            obligated: set(Some(format_cents(a.obligated_cents)), self.obligated, money),
            disbursed: set(Some(format_cents(a.disbursed_cents)), self.disbursed, money),
            description: patch(a.description.clone(), self.description, Some),
        }
    }
}
