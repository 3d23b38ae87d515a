//! The API's rows as files: what `GET /export/{list}` writes for each list of the contract. Each
//! entity's columns are the scalar fields of its object type, named as the type names them
//! (`provenance`'s fields as `provenance.ownerAgency`, …) and written as GraphQL writes their
//! values (the same `ID`, `Date`, `Money`, `DateTime` and enum texts); edges to other entities
//! (`Trace.firearm`, `Seizure.firearms`, `Training.fundingAward`, `FundingAward.trainings`) are
//! not exported. A field the caller's policy withholds is empty in CSV and `null` in NDJSON, as
//! GraphQL answers it `null`. The filter and order are read with the list's own input types
//! (`TraceFilter`, `[TraceOrder!]`, …), so an export accepts exactly what the list accepts.

use async_graphql::{InputType, Value};
use chrono::{DateTime, Utc};
use entity::{funding_award, seizure, trace, training_event};

use crate::domain::scalars::{Date, Money};
use crate::policy::Access;
use crate::store;
use crate::store::door::Owned;
use crate::store::filters::{
    FundingOrderField, Order, SeizureOrderField, TraceOrderField, TrainingOrderField,
};

/// One column of an export: a scalar field of the entity's object type.
pub(crate) struct Column<M: 'static> {
    /// The field's name in the API (a `provenance` field as `provenance.<name>`).
    pub name: &'static str,
    /// Free text a person or another system wrote: a CSV cell of it that a spreadsheet would run
    /// as a formula is neutralised. Identifiers, dates, numbers, money and codes are not text.
    pub text: bool,
    pub value: fn(&M) -> Value,
}

const fn col<M>(name: &'static str, value: fn(&M) -> Value) -> Column<M> {
    Column {
        name,
        text: false,
        value,
    }
}

const fn text<M>(name: &'static str, value: fn(&M) -> Value) -> Column<M> {
    Column {
        name,
        text: true,
        value,
    }
}

fn id(id: i64) -> Value {
    Value::String(id.to_string())
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn optional(s: Option<&str>) -> Value {
    s.map_or(Value::Null, string)
}

fn date(d: chrono::NaiveDate) -> Value {
    Date(d).to_value()
}

fn money(cents: i64) -> Value {
    Money(cents).to_value()
}

fn instant(at: &DateTime<Utc>) -> Value {
    at.to_value()
}

/// A list of the contract that can be exported: its path, its object type's columns and its
/// list's filter and order inputs.
pub(crate) trait Exported: Owned<Filter: InputType, OrderField: InputType>
where
    Self::Model: Sync,
{
    /// The list's name in the contract, and the export's path: `/export/{LIST}`.
    const LIST: &'static str;
    const COLUMNS: &'static [Column<Self::Model>];
    /// One key of the list's `orderBy` (`TraceOrder`, …).
    type OrderInput: InputType;
    fn order_of(order: &Self::OrderInput) -> (Self::OrderField, bool);
}

macro_rules! ordered_by {
    ($field:ty) => {
        type OrderInput = Order<$field>;
        fn order_of(order: &Order<$field>) -> ($field, bool) {
            order.key()
        }
    };
}

impl Exported for trace::Entity {
    ordered_by!(TraceOrderField);
    const LIST: &'static str = "traces";
    const COLUMNS: &'static [Column<trace::Model>] = &[
        col("id", |m| id(m.id)),
        col("traceNumber", |m| string(&m.trace_number)),
        text("requestingAgency", |m| string(&m.requesting_agency)),
        col("recoveryDate", |m| date(m.recovery_date)),
        col("recoveryState", |m| string(&m.recovery_state)),
        text("recoveryMunicipality", |m| {
            optional(m.recovery_municipality.as_deref())
        }),
        col("status", |m| m.status.to_value()),
        col("sourceClass", |m| m.source_class.to_value()),
        col("purchaseState", |m| optional(m.purchase_state.as_deref())),
        col("purchaseDate", |m| {
            m.purchase_date.map_or(Value::Null, date)
        }),
        col("timeToCrimeDays", |m| {
            m.time_to_crime_days.map_or(Value::Null, Value::from)
        }),
        text("dealerLicense", |m| optional(m.dealer_license.as_deref())),
        text("purchaserName", |m| optional(m.purchaser_name.as_deref())),
        col("provenance.ownerAgency", |m| m.owner_agency.to_value()),
        text("provenance.sourceSystem", |m| string(&m.source_system)),
        col("provenance.ingestedAt", |m| instant(&m.ingested_at)),
        col("version", |m| Value::from(m.version)),
    ];
}

impl Exported for seizure::Entity {
    ordered_by!(SeizureOrderField);
    const LIST: &'static str = "seizures";
    const COLUMNS: &'static [Column<seizure::Model>] = &[
        col("id", |m| id(m.id)),
        text("caseNumber", |m| string(&m.case_number)),
        col("seizingAgency", |m| m.seizing_agency.to_value()),
        text("operation", |m| optional(m.operation.as_deref())),
        col("seizedOn", |m| date(m.seized_on)),
        col("fiscalYear", |m| Value::from(m.fiscal_year)),
        col("usState", |m| string(&m.us_state)),
        text("portOfEntry", |m| optional(m.port_of_entry.as_deref())),
        col("direction", |m| m.direction.to_value()),
        text("concealmentMethod", |m| {
            optional(m.concealment_method.as_deref())
        }),
        col("ammunitionRounds", |m| Value::from(m.ammunition_rounds)),
        col("firearmCount", |m| Value::from(m.firearm_count)),
        col("disposition", |m| {
            m.disposition.map_or(Value::Null, |d| d.to_value())
        }),
        col("provenance.ownerAgency", |m| m.owner_agency.to_value()),
        text("provenance.sourceSystem", |m| string(&m.source_system)),
        col("provenance.ingestedAt", |m| instant(&m.ingested_at)),
        col("version", |m| Value::from(m.version)),
    ];
}

impl Exported for training_event::Entity {
    ordered_by!(TrainingOrderField);
    const LIST: &'static str = "trainings";
    const COLUMNS: &'static [Column<training_event::Model>] = &[
        col("id", |m| id(m.id)),
        text("reference", |m| string(&m.reference)),
        col("course", |m| m.course.to_value()),
        col("provider", |m| m.provider.to_value()),
        col("startDate", |m| date(m.start_date)),
        col("endDate", |m| date(m.end_date)),
        col("fiscalYear", |m| Value::from(m.fiscal_year)),
        text("mexicanAgency", |m| string(&m.mexican_agency)),
        col("mexicanState", |m| optional(m.mexican_state.as_deref())),
        col("participants", |m| Value::from(m.participants)),
        col("etraceAccountsGranted", |m| {
            Value::from(m.etrace_accounts_granted)
        }),
        col("provenance.ownerAgency", |m| m.owner_agency.to_value()),
        text("provenance.sourceSystem", |m| string(&m.source_system)),
        col("provenance.ingestedAt", |m| instant(&m.ingested_at)),
        col("version", |m| Value::from(m.version)),
    ];
}

impl Exported for funding_award::Entity {
    ordered_by!(FundingOrderField);
    const LIST: &'static str = "fundingAwards";
    const COLUMNS: &'static [Column<funding_award::Model>] = &[
        col("id", |m| id(m.id)),
        text("awardNumber", |m| string(&m.award_number)),
        col("fiscalYear", |m| Value::from(m.fiscal_year)),
        text("program", |m| string(&m.program)),
        col("category", |m| m.category.to_value()),
        col("implementingAgency", |m| {
            m.implementing_agency.map_or(Value::Null, |a| a.to_value())
        }),
        text("recipient", |m| string(&m.recipient)),
        col("obligated", |m| money(m.obligated_cents)),
        col("disbursed", |m| money(m.disbursed_cents)),
        text("description", |m| optional(m.description.as_deref())),
        col("provenance.ownerAgency", |m| m.owner_agency.to_value()),
        text("provenance.sourceSystem", |m| string(&m.source_system)),
        col("provenance.ingestedAt", |m| instant(&m.ingested_at)),
        col("version", |m| Value::from(m.version)),
    ];
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// RFC 4180 CSV with a header row of the column names.
    Csv,
    /// One JSON object per line, its keys the column names in order.
    Ndjson,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }

    pub(crate) fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }
}

/// The list's filter, given as the JSON of its filter input (`TraceFilter`, …): read and checked
/// by that input type, as GraphQL reads a variable of it. The error names what was wrong.
pub(crate) fn filter<E>(json: &str) -> Result<E::Filter, String>
where
    E: Exported,
    E::Model: Sync,
{
    let value = input_value(json, "filter")?;
    let filter = E::Filter::parse(Some(value.clone())).map_err(|e| {
        format!(
            "filter: {}",
            e.into_server_error(async_graphql::Pos::default()).message
        )
    })?;
    unknown_field(&value, &filter.to_value(), "filter")?;
    Ok(filter)
}

/// Refuses a field of `given` that the input type does not have: `read` is what the type read of
/// it, written back (every field of an input object, `null` when absent), so a key of `given`
/// missing from it was ignored.
fn unknown_field(given: &Value, read: &Value, at: &str) -> Result<(), String> {
    match (given, read) {
        (Value::Object(given), Value::Object(read)) => {
            for (name, value) in given {
                let here = format!("{at}.{name}");
                match read.get(name) {
                    Some(read) => unknown_field(value, read, &here)?,
                    None => return Err(format!("{here} is not a field of the list's filter")),
                }
            }
            Ok(())
        }
        (Value::List(given), Value::List(read)) => {
            for (i, (given, read)) in given.iter().zip(read).enumerate() {
                unknown_field(given, read, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        // A single value given for a list is read as a list of one.
        (given, Value::List(read)) if read.len() == 1 => unknown_field(given, &read[0], at),
        _ => Ok(()),
    }
}

/// The list's order, given as the JSON of its `orderBy` argument (`[TraceOrder!]`, …).
pub(crate) fn order<E>(json: &str) -> Result<Vec<(E::OrderField, bool)>, String>
where
    E: Exported,
    E::Model: Sync,
{
    let value = input_value(json, "orderBy")?;
    let keys = Vec::<E::OrderInput>::parse(Some(value.clone())).map_err(|e| {
        format!(
            "orderBy: {}",
            e.into_server_error(async_graphql::Pos::default()).message
        )
    })?;
    let written = Value::List(keys.iter().map(InputType::to_value).collect());
    unknown_field(&value, &written, "orderBy")?;
    Ok(keys.iter().map(E::order_of).collect())
}

fn input_value(json: &str, parameter: &str) -> Result<Value, String> {
    let json: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("{parameter} is not JSON ({e}); give the list's input as JSON"))?;
    Value::from_json(json).map_err(|e| format!("{parameter}: {e}"))
}

/// Writes rows of one entity for one caller: the columns its policy withholds are blank.
pub(crate) struct Writer<E: Exported>
where
    E::Model: Sync,
{
    format: Format,
    /// For each column, whether the caller's policy withholds it.
    withheld: Vec<bool>,
    _entity: std::marker::PhantomData<E>,
}

impl<E> Writer<E>
where
    E: Exported,
    E::Model: Sync,
{
    pub(crate) fn new(access: &Access, format: Format) -> Writer<E> {
        let withheld = E::COLUMNS
            .iter()
            .map(|c| {
                let field = c.name.split('.').next().unwrap_or(c.name);
                store::withheld(access, E::KIND, field)
            })
            .collect();
        Writer {
            format,
            withheld,
            _entity: std::marker::PhantomData,
        }
    }

    /// The fields the caller's policy withholds (blank in every row).
    pub(crate) fn withheld_fields(&self) -> Vec<&'static str> {
        E::COLUMNS
            .iter()
            .zip(&self.withheld)
            .filter(|(_, withheld)| **withheld)
            .map(|(c, _)| c.name)
            .collect()
    }

    /// What comes before the rows: CSV's header row; nothing for NDJSON.
    pub(crate) fn head(&self) -> Result<Vec<u8>, String> {
        match self.format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(Vec::new());
                csv.write_record(E::COLUMNS.iter().map(|c| c.name))
                    .map_err(|e| e.to_string())?;
                csv.into_inner().map_err(|e| e.to_string())
            }
            Format::Ndjson => Ok(Vec::new()),
        }
    }

    /// The rows, written in the format.
    pub(crate) fn rows(&self, rows: &[E::Model]) -> Result<Vec<u8>, String> {
        match self.format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 256));
                let mut record: Vec<String> = Vec::with_capacity(E::COLUMNS.len());
                for row in rows {
                    record.clear();
                    record.extend(self.values(row).map(|(column, value)| cell(column, value)));
                    csv.write_record(&record).map_err(|e| e.to_string())?;
                }
                csv.into_inner().map_err(|e| e.to_string())
            }
            Format::Ndjson => {
                let mut out = Vec::with_capacity(rows.len() * 320);
                for row in rows {
                    out.push(b'{');
                    for (i, (column, value)) in self.values(row).enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        serde_json::to_writer(&mut out, column.name).map_err(|e| e.to_string())?;
                        out.push(b':');
                        serde_json::to_writer(&mut out, &value).map_err(|e| e.to_string())?;
                    }
                    out.extend_from_slice(b"}\n");
                }
                Ok(out)
            }
        }
    }

    fn values<'a>(
        &'a self,
        row: &'a E::Model,
    ) -> impl Iterator<Item = (&'static Column<E::Model>, Value)> + 'a {
        E::COLUMNS
            .iter()
            .zip(&self.withheld)
            .map(move |(column, withheld)| {
                let value = if *withheld {
                    Value::Null
                } else {
                    (column.value)(row)
                };
                (column, value)
            })
    }
}

/// A value as a CSV cell: empty for `null`; text that a spreadsheet would run as a formula (a
/// leading `=`, `+`, `-`, `@`, tab or carriage return) with a leading `'`, as the portal's CSV
/// writes it.
fn cell<M>(column: &Column<M>, value: Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) if column.text && starts_like_a_formula(&s) => format!("'{s}"),
        Value::String(s) => s,
        Value::Enum(name) => name.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn starts_like_a_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}
