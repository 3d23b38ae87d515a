//! Performance measures as live data: the catalogue of metrics a measure may name, each a named
//! computation with typed parameters and a unit, computed per U.S. federal fiscal year through the
//! stats machinery (`stats::GroupedQuery`, the caller's aggregate mode, the cell key method), and
//! the measures themselves: read by every role, created, changed and retired by their owner agency
//! and oversight, every change versioned and audited in its transaction.
//!
//! A metric's value is an aggregate of the entities it reads. The caller's mode is the strictest of
//! its aggregate access to each of them: exact when every one is exact, protected by the cell key
//! method when any is suppressed (each count, sum and median of the answer is one protected cell,
//! exactly as a `…Stats` total), FORBIDDEN when any is `none`. No part of a metric comes from the
//! caller: its conditions are the catalogue's, its parameters values checked against their type.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Utc};
use entity::{
    Agency, CourseKind, Direction, FundingCategory, Role, SourceClass, TraceStatus, agency,
    funding_award, performance_measure as measure, performance_measure_version as version, seizure,
    seizure_firearm, trace, training_event,
};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    NotSet, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::canonical::StatsCache;
use super::filters::{
    FundingDimension, FundingFilter, IntRange, SeizureDimension, SeizureFilter, TraceDimension,
    TraceFilter, TrainingDimension, TrainingFilter,
};
use super::stats::{self, Grouped, GroupedQuery};
use crate::audit::NewEvent;
use crate::domain::calendar::fiscal_year_bounds;
use crate::error::{Error, Result};
use crate::policy::suppression::{Bucket, Cell, Group, Median};
use crate::policy::{Access, Aggregates, EntityKind, Rows};

/// The operation ICE records its southwest border task force seizures under.
pub(crate) const SOUTHWEST_BORDER_TASK_FORCE: &str = "Southwest Border Task Force";
/// The HSI-led Border Enforcement Security Task Force, also a southwest border task force.
pub(crate) const BEST_TASK_FORCE: &str = "Border Enforcement Security Task Force (BEST)";
/// The joint ICE–CBP southbound operation (from March 2020).
pub(crate) const JOINT_OPERATION: &str = "Joint ICE-CBP Southbound Operation";

/// What a metric's value measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "MetricUnit")]
pub(crate) enum Unit {
    /// A number of records, firearms, people or accounts.
    Count,
    /// A ratio in thousandths: `numerator / denominator × 1000`, rounded half up.
    PerMille,
    /// A median number of days (the mean of the two middle values when their number is even,
    /// rounded half up).
    MedianDays,
    /// Whole U.S. dollars (the sum of integer cents, rounded half up to dollars).
    Dollars,
}

/// Which records of the fiscal year a metric reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "MetricSpan")]
pub(crate) enum Span {
    /// The records of the fiscal year (October 1 to September 30).
    FiscalYear,
    /// Every record up to the end of the fiscal year: a running total.
    ToDate,
}

/// The type of a metric parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "MetricParameterType")]
pub(crate) enum ParamType {
    /// A U.S. agency: ATF, ICE, CBP or STATE.
    Agency,
    /// An agency that seizes firearms: CBP or ICE.
    SeizingAgency,
    /// A course kind (`CourseKind`).
    CourseKind,
    /// A funding category (`FundingCategory`).
    FundingCategory,
    /// An ISO 3166-2:MX state code, e.g. MX-SON.
    MexicanState,
    /// A direction of travel (`Direction`).
    Direction,
    /// A non-empty text of at most 100 characters, e.g. a port of entry or an agency code.
    Text,
    /// `true` or `false`.
    Boolean,
}

/// A parameter a metric accepts; every parameter is optional and, when absent, does not restrict.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamType,
    pub description: &'static str,
}

/// A metric of the catalogue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metric {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: Unit,
    pub span: Span,
    /// The entities whose aggregates the metric reads (the agencies' eTrace dates are reference
    /// data every role reads).
    pub reads: &'static [EntityKind],
    pub parameters: &'static [ParamSpec],
}

const RECOVERY_STATE: ParamSpec = ParamSpec {
    name: "recoveryState",
    kind: ParamType::MexicanState,
    description: "Only traces of firearms recovered in this Mexican state.",
};
const SEIZING_AGENCY: ParamSpec = ParamSpec {
    name: "seizingAgency",
    kind: ParamType::SeizingAgency,
    description: "Only seizures by this agency.",
};
const PROVIDER: ParamSpec = ParamSpec {
    name: "provider",
    kind: ParamType::Agency,
    description: "Only courses given by this agency.",
};
const COURSE: ParamSpec = ParamSpec {
    name: "course",
    kind: ParamType::CourseKind,
    description: "Only courses of this kind.",
};
const CATEGORY: ParamSpec = ParamSpec {
    name: "category",
    kind: ParamType::FundingCategory,
    description: "Only awards of this category.",
};
const IMPLEMENTING: ParamSpec = ParamSpec {
    name: "implementingAgency",
    kind: ParamType::Agency,
    description: "Only awards this agency implements.",
};
const PORT: ParamSpec = ParamSpec {
    name: "portOfEntry",
    kind: ParamType::Text,
    description: "Only seizures at this port of entry.",
};

use EntityKind::{FundingAward as F, Seizure as S, Trace as T, Training as TR};

/// The catalogue. Every metric is computed per fiscal year; "in the fiscal year" means a trace's
/// recovery date, a seizure's `fiscalYear`, a training's `fiscalYear` (of its start) or an award's
/// `fiscalYear` falls in it.
pub(crate) const CATALOGUE: &[Metric] = &[
    Metric {
        name: "etrace_state_agencies",
        description: "Mexican state agencies (kind MX_STATE) with eTrace access by the last day of the fiscal year.",
        unit: Unit::Count,
        span: Span::ToDate,
        reads: &[],
        parameters: &[],
    },
    Metric {
        name: "traces_submitted",
        description: "Traces submitted by Mexican agencies of firearms recovered in the fiscal year.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[T],
        parameters: &[
            ParamSpec {
                name: "requestingAgency",
                kind: ParamType::Text,
                description: "Only traces this Mexican agency asked for (its code, e.g. FGR).",
            },
            RECOVERY_STATE,
        ],
    },
    Metric {
        name: "traces_to_purchaser_per_mille",
        description: "Of the traces of firearms recovered in the fiscal year (denominator), those COMPLETED, that is traced to a U.S. retail purchaser (numerator), per mille.",
        unit: Unit::PerMille,
        span: Span::FiscalYear,
        reads: &[T],
        parameters: &[RECOVERY_STATE],
    },
    Metric {
        name: "us_origin_per_mille",
        description: "Of the traces of firearms recovered in the fiscal year (denominator), those of U.S. origin: source class US_MANUFACTURED or US_IMPORTED (numerator), per mille.",
        unit: Unit::PerMille,
        span: Span::FiscalYear,
        reads: &[T],
        parameters: &[RECOVERY_STATE],
    },
    Metric {
        name: "median_time_to_crime_days",
        description: "Median time-to-crime in days of the traces of firearms recovered in the fiscal year that have one.",
        unit: Unit::MedianDays,
        span: Span::FiscalYear,
        reads: &[T],
        parameters: &[RECOVERY_STATE],
    },
    Metric {
        name: "firearms_seized",
        description: "Firearms in the seizures of the fiscal year (the sum of their firearmCount).",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[S],
        parameters: &[
            SEIZING_AGENCY,
            ParamSpec {
                name: "direction",
                kind: ParamType::Direction,
                description: "Only seizures in this direction.",
            },
            PORT,
            ParamSpec {
                name: "operation",
                kind: ParamType::Text,
                description: "Only seizures recorded under this operation.",
            },
        ],
    },
    Metric {
        name: "southbound_firearms_seized",
        description: "Firearms in the OUTBOUND (southbound) seizures of the fiscal year.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[S],
        parameters: &[SEIZING_AGENCY],
    },
    Metric {
        name: "ice_task_force_firearms",
        description: "Firearms in ICE's seizures of the fiscal year recorded under an HSI-led southwest border task force: the Southwest Border Task Force or BEST.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[S],
        parameters: &[],
    },
    Metric {
        name: "joint_operation_firearms",
        description: "Firearms in the seizures of the fiscal year recorded under the Joint ICE-CBP Southbound Operation.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[S],
        parameters: &[],
    },
    Metric {
        name: "cbp_outbound_firearms",
        description: "Firearms in CBP's OUTBOUND seizures of the fiscal year at a port of entry (outbound inspections).",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[S],
        parameters: &[PORT],
    },
    Metric {
        name: "seized_firearms_matched_to_traces",
        description: "Firearms of the seizures of the fiscal year whose record is held by a trace, or linked (firearmLink: an identical serial or a confirmed near serial, over any number of links) to a firearm record a trace holds.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[S, T],
        parameters: &[SEIZING_AGENCY],
    },
    Metric {
        name: "trainings_delivered",
        description: "Training events that started in the fiscal year.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[TR],
        parameters: &[PROVIDER, COURSE],
    },
    Metric {
        name: "officials_trained",
        description: "Participants in the training events that started by the end of the fiscal year (a running total).",
        unit: Unit::Count,
        span: Span::ToDate,
        reads: &[TR],
        parameters: &[PROVIDER, COURSE],
    },
    Metric {
        name: "etrace_accounts_granted",
        description: "eTrace accounts granted in the training events that started in the fiscal year.",
        unit: Unit::Count,
        span: Span::FiscalYear,
        reads: &[TR],
        parameters: &[
            PROVIDER,
            ParamSpec {
                name: "funded",
                kind: ParamType::Boolean,
                description: "true: only courses a funding award paid for; false: only the others.",
            },
        ],
    },
    Metric {
        name: "funding_obligated",
        description: "Funding obligated by the awards of the fiscal year.",
        unit: Unit::Dollars,
        span: Span::FiscalYear,
        reads: &[F],
        parameters: &[CATEGORY, IMPLEMENTING],
    },
    Metric {
        name: "funding_disbursed",
        description: "Funding disbursed of the awards of the fiscal year.",
        unit: Unit::Dollars,
        span: Span::FiscalYear,
        reads: &[F],
        parameters: &[CATEGORY, IMPLEMENTING],
    },
    Metric {
        name: "funding_disbursed_per_mille",
        description: "Of the funding obligated by the awards of the fiscal year (denominator, cents), the part disbursed (numerator, cents), per mille.",
        unit: Unit::PerMille,
        span: Span::FiscalYear,
        reads: &[F],
        parameters: &[CATEGORY, IMPLEMENTING],
    },
];

/// The catalogue's metric of this name.
pub(crate) fn metric(name: &str) -> Option<&'static Metric> {
    CATALOGUE.iter().find(|m| m.name == name)
}

/// A metric's parameters: names to values, as stored (a JSON object of strings).
pub(crate) type Params = BTreeMap<String, String>;

/// Checks `params` against the metric's parameters and normalises each value (enumerations
/// upper-case, booleans `true`/`false`); the error names the parameter as `field`.
pub(crate) fn validate_params(metric: &Metric, params: &Params, field: &str) -> Result<Params> {
    let mut out = Params::new();
    for (name, value) in params {
        let Some(spec) = metric.parameters.iter().find(|p| p.name == name) else {
            let known: Vec<&str> = metric.parameters.iter().map(|p| p.name).collect();
            return Err(Error::invalid(
                format!("{field}.{name}"),
                if known.is_empty() {
                    format!("metric {} takes no parameters", metric.name)
                } else {
                    format!(
                        "metric {} takes no parameter '{name}'; it takes {}",
                        metric.name,
                        known.join(", ")
                    )
                },
            ));
        };
        let bad = |reason: String| Error::invalid(format!("{field}.{name}"), reason);
        let value = value.trim();
        let normal = match spec.kind {
            ParamType::Agency => Agency::parse(value)
                .map(|a| a.as_str().to_owned())
                .ok_or_else(|| bad(format!("'{value}' is not one of ATF, ICE, CBP, STATE")))?,
            ParamType::SeizingAgency => match Agency::parse(value) {
                Some(a @ (Agency::Cbp | Agency::Ice)) => a.as_str().to_owned(),
                _ => return Err(bad(format!("'{value}' is not one of CBP, ICE"))),
            },
            ParamType::CourseKind => CourseKind::parse(value)
                .map(|c| c.as_str().to_owned())
                .ok_or_else(|| bad(format!("'{value}' is not a course kind")))?,
            ParamType::FundingCategory => FundingCategory::parse(value)
                .map(|c| c.as_str().to_owned())
                .ok_or_else(|| bad(format!("'{value}' is not a funding category")))?,
            ParamType::Direction => Direction::parse(value)
                .map(|c| c.as_str().to_owned())
                .ok_or_else(|| {
                    bad(format!(
                        "'{value}' is not one of OUTBOUND, INBOUND, INTERIOR"
                    ))
                })?,
            ParamType::MexicanState => {
                let code = value.to_ascii_uppercase();
                if !crate::domain::codes::is_mx_state(&code) {
                    return Err(bad(format!(
                        "'{value}' is not an ISO 3166-2:MX state code such as MX-SON"
                    )));
                }
                code
            }
            ParamType::Text => {
                if value.is_empty() || value.chars().count() > 100 {
                    return Err(bad("must be 1 to 100 characters".into()));
                }
                value.to_owned()
            }
            ParamType::Boolean => match value.to_ascii_lowercase().as_str() {
                "true" => "true".to_owned(),
                "false" => "false".to_owned(),
                _ => return Err(bad(format!("'{value}' is not true or false"))),
            },
        };
        out.insert(name.clone(), normal);
    }
    Ok(out)
}

/// Parameters as stored (a JSON object of strings); an unreadable value is an error, never taken
/// for "no parameters", which would widen what the measure counts.
pub(crate) fn parse_params(code: &str, stored: &str) -> Result<Params> {
    serde_json::from_str(stored).map_err(|e| {
        Error::Unexpected(anyhow::anyhow!(
            "measure {code} has unreadable stored parameters: {e}"
        ))
    })
}

/// The stored parameters of a measure.
pub(crate) fn stored_params(m: &measure::Model) -> Result<Params> {
    parse_params(&m.code, &m.parameters)
}

/// Whether the caller may read the metric's values at all (aggregates of every entity it reads,
/// and the firearm links a metric follows).
pub(crate) fn check_readable(access: &Access, metric: &Metric) -> Result<()> {
    mode(access, metric)?;
    if metric.name == "seized_firearms_matched_to_traces" {
        check_may_follow_links(access, metric)?;
    }
    Ok(())
}

/// One metric's value for one fiscal year, as the caller may see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Actual {
    /// `None` when there is nothing to measure (no values for a median, a zero denominator) or
    /// when a protected median is withheld.
    pub value: Option<i64>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    /// Whether the numbers are protected by the cell key method rather than exact.
    pub suppressed: bool,
}

/// The caller's mode for a metric: the strictest of its aggregate access to each entity read.
fn mode(access: &Access, metric: &Metric) -> Result<Aggregates> {
    let mut mode = Aggregates::Exact;
    for kind in metric.reads {
        match access.rule(*kind).aggregates {
            Aggregates::None => {
                return Err(Error::Forbidden(format!(
                    "role {} may not read {kind} aggregates, which metric {} reads",
                    access.role(),
                    metric.name
                )));
            }
            Aggregates::Suppressed => mode = Aggregates::Suppressed,
            Aggregates::Exact => {}
        }
    }
    Ok(mode)
}

/// One cell's count, sums and median, exact or protected as `mode` says, just as a `…Stats` total.
struct CellAnswer {
    count: i64,
    sums: Vec<Option<i64>>,
    median: Option<i64>,
}

async fn cell<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    mode: Aggregates,
    query: GroupedQuery,
    median: Option<SimpleExpr>,
    floors: &[i64],
) -> Result<CellAnswer> {
    let sums = query.sums.len();
    let group = query.groups(db).await?.into_iter().next().unwrap_or(Group {
        keys: Vec::new(),
        count: 0,
        sums: vec![0; sums],
        key_sum: 0,
    });
    let medians: HashMap<Vec<crate::policy::suppression::Cell>, Median> = match median {
        Some(value) => query.medians(db, value).await?,
        None => HashMap::new(),
    };
    let answer = stats::answer(
        access,
        mode,
        vec![group.clone()],
        Some(&group),
        &medians,
        sums,
        floors,
    );
    Ok(CellAnswer {
        count: answer.total.unwrap_or(0),
        sums: answer.total_sums,
        median: answer.buckets.first().and_then(|b| b.median),
    })
}

/// A grouped entity's single cell over the rows matching `cond`.
async fn of<E, C>(
    db: &C,
    access: &Access,
    mode: Aggregates,
    cond: Condition,
    median: bool,
) -> Result<CellAnswer>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
    C: ConnectionTrait,
{
    let query = E::grouped(cond, &[]);
    let median = if median { E::median() } else { None };
    cell(db, access, mode, query, median, &E::sum_floors()).await
}

fn per_mille(numerator: i64, denominator: i64) -> Option<i64> {
    (denominator > 0).then(|| {
        let (n, d) = (i128::from(numerator), i128::from(denominator));
        i64::try_from((2000 * n + d).div_euclid(2 * d)).unwrap_or(i64::MAX)
    })
}

fn dollars(cents: i64) -> i64 {
    (cents + 50).div_euclid(100)
}

fn ratio(numerator: i64, denominator: i64, suppressed: bool) -> Actual {
    Actual {
        value: per_mille(numerator, denominator),
        numerator: Some(numerator),
        denominator: Some(denominator),
        suppressed,
    }
}

fn single(value: Option<i64>, suppressed: bool) -> Actual {
    Actual {
        value,
        numerator: None,
        denominator: None,
        suppressed,
    }
}

/// Adds `column = value` when the parameter is set.
fn param_eq(c: Condition, params: &Params, name: &str, column: impl ColumnTrait) -> Condition {
    match params.get(name) {
        Some(v) => c.add(column.eq(v.clone())),
        None => c,
    }
}

/// The metric's value for fiscal year `fy`, computed from the records as the caller may see it:
/// exact for a caller with exact aggregates of every entity read, else made only of the cells the
/// entities' `…Stats` queries publish (see [`protected`]). The entities read are recorded in the
/// request's trail.
pub(crate) async fn compute<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    cache: Option<&StatsCache>,
    metric: &Metric,
    params: &Params,
    fy: i32,
) -> Result<Actual> {
    check_readable(access, metric)?;
    let mode = mode(access, metric)?;
    if mode == Aggregates::Suppressed {
        return protected(db, access, cache, metric, params, fy).await;
    }
    for kind in metric.reads {
        access.touched(*kind, kind.possible_owners().iter().copied(), 1);
    }
    let suppressed = false;
    let (start, end) = fiscal_year_bounds(fy);
    let traces = || {
        use trace::Column as C;
        let c = Condition::all().add(C::RecoveryDate.between(start, end));
        let c = param_eq(c, params, "recoveryState", C::RecoveryState);
        param_eq(c, params, "requestingAgency", C::RequestingAgency)
    };
    let seizures = || {
        use seizure::Column as C;
        let c = Condition::all().add(C::FiscalYear.eq(fy));
        let c = param_eq(c, params, "seizingAgency", C::SeizingAgency);
        let c = param_eq(c, params, "direction", C::Direction);
        let c = param_eq(c, params, "portOfEntry", C::PortOfEntry);
        param_eq(c, params, "operation", C::Operation)
    };
    let trainings = || {
        use training_event::Column as C;
        let c = match metric.span {
            Span::FiscalYear => Condition::all().add(C::FiscalYear.eq(fy)),
            Span::ToDate => Condition::all().add(C::FiscalYear.lte(fy)),
        };
        let c = param_eq(c, params, "provider", C::Provider);
        let c = param_eq(c, params, "course", C::Course);
        match params.get("funded").map(String::as_str) {
            Some("true") => c.add(C::FundingAwardId.is_not_null()),
            Some("false") => c.add(C::FundingAwardId.is_null()),
            _ => c,
        }
    };
    let awards = || {
        use funding_award::Column as C;
        let c = Condition::all().add(C::FiscalYear.eq(fy));
        let c = param_eq(c, params, "category", C::Category);
        param_eq(c, params, "implementingAgency", C::ImplementingAgency)
    };
    // Seizure sums: firearms, then rounds.
    let firearms_in = |cond: Condition| async move {
        let a = of::<seizure::Entity, _>(db, access, mode, cond, false).await?;
        Ok::<_, Error>(single(a.sums.first().copied().flatten(), suppressed))
    };
    match metric.name {
        "etrace_state_agencies" => exact_reference(db, fy).await,
        "traces_submitted" => {
            let a = of::<trace::Entity, _>(db, access, mode, traces(), false).await?;
            Ok(single(Some(a.count), suppressed))
        }
        "traces_to_purchaser_per_mille" | "us_origin_per_mille" => {
            let all = of::<trace::Entity, _>(db, access, mode, traces(), false).await?;
            let part = if metric.name == "us_origin_per_mille" {
                trace::Column::SourceClass.is_in([
                    SourceClass::UsManufactured.as_str(),
                    SourceClass::UsImported.as_str(),
                ])
            } else {
                trace::Column::Status.eq(TraceStatus::Completed.as_str())
            };
            let part = of::<trace::Entity, _>(db, access, mode, traces().add(part), false).await?;
            Ok(ratio(part.count, all.count, suppressed))
        }
        "median_time_to_crime_days" => {
            let a = of::<trace::Entity, _>(db, access, mode, traces(), true).await?;
            Ok(single(a.median, suppressed))
        }
        "firearms_seized" => firearms_in(seizures()).await,
        "southbound_firearms_seized" => {
            firearms_in(seizures().add(seizure::Column::Direction.eq(Direction::Outbound.as_str())))
                .await
        }
        "ice_task_force_firearms" => {
            firearms_in(
                seizures()
                    .add(seizure::Column::SeizingAgency.eq(Agency::Ice.as_str()))
                    .add(
                        seizure::Column::Operation
                            .is_in([SOUTHWEST_BORDER_TASK_FORCE, BEST_TASK_FORCE]),
                    ),
            )
            .await
        }
        "joint_operation_firearms" => {
            firearms_in(seizures().add(seizure::Column::Operation.eq(JOINT_OPERATION))).await
        }
        "cbp_outbound_firearms" => {
            firearms_in(
                seizures()
                    .add(seizure::Column::SeizingAgency.eq(Agency::Cbp.as_str()))
                    .add(seizure::Column::Direction.eq(Direction::Outbound.as_str()))
                    .add(seizure::Column::PortOfEntry.is_not_null()),
            )
            .await
        }
        "seized_firearms_matched_to_traces" => {
            let mut query = GroupedQuery::new(seizure_firearm::Entity, seizures().add(traced()));
            query.select.inner_join(
                seizure::Entity,
                sea_orm::sea_query::ExprTrait::equals(
                    Expr::col((seizure::Entity, seizure::Column::Id)),
                    (seizure_firearm::Entity, seizure_firearm::Column::SeizureId),
                ),
            );
            query.record_key = Some(Expr::col((
                seizure::Entity,
                sea_orm::sea_query::Alias::new("record_key"),
            )));
            let a = cell(db, access, mode, query, None, &[]).await?;
            Ok(single(Some(a.count), suppressed))
        }
        "trainings_delivered" => {
            let a = of::<training_event::Entity, _>(db, access, mode, trainings(), false).await?;
            Ok(single(Some(a.count), suppressed))
        }
        "officials_trained" | "etrace_accounts_granted" => {
            let a = of::<training_event::Entity, _>(db, access, mode, trainings(), false).await?;
            let i = usize::from(metric.name == "etrace_accounts_granted");
            Ok(single(a.sums.get(i).copied().flatten(), suppressed))
        }
        "funding_obligated" | "funding_disbursed" | "funding_disbursed_per_mille" => {
            let a = of::<funding_award::Entity, _>(db, access, mode, awards(), false).await?;
            let obligated = a.sums.first().copied().flatten();
            let disbursed = a.sums.get(1).copied().flatten();
            Ok(match metric.name {
                "funding_obligated" => single(obligated.map(dollars), suppressed),
                "funding_disbursed" => single(disbursed.map(dollars), suppressed),
                _ => match (disbursed, obligated) {
                    (Some(d), Some(o)) => ratio(d, o, suppressed),
                    _ => single(None, suppressed),
                },
            })
        }
        other => Err(Error::Unexpected(anyhow::anyhow!(
            "metric {other} is in the catalogue but not computed"
        ))),
    }
}

/// Matching seized firearms to traces follows `firearm_link`: only a role whose `firearmLink` rows
/// are `all` may learn, even as a count, that another agency holds a gun it seized.
fn check_may_follow_links(access: &Access, metric: &Metric) -> Result<()> {
    if access.rule(EntityKind::FirearmLink).rows == Rows::All {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "role {} may not follow firearm links, which metric {} follows",
            access.role(),
            metric.name
        )))
    }
}

/// The parameters whose values are a dimension of the `…Stats` query of the entity they restrict.
const DIMENSION_PARAMS: &[&str] = &[
    "recoveryState",
    "seizingAgency",
    "direction",
    "portOfEntry",
    "operation",
    "provider",
    "course",
    "category",
    "implementingAgency",
];

/// A refusal for a caller whose aggregates are protected: the metric asks for something finer
/// than the cells its `…Stats` queries publish.
fn finer(access: &Access, metric: &Metric, what: &str) -> Error {
    Error::Forbidden(format!(
        "metric {} {what}: finer than role {}'s protected aggregates, which are only the cells its …Stats queries publish",
        metric.name,
        access.role()
    ))
}

/// The published buckets of an entity's stats for this filter, grouped by every dimension it
/// filters (the stats' own alignment check runs on it), from the canonical tables when cached.
async fn published<E, C>(
    db: &C,
    access: &Access,
    cache: Option<&StatsCache>,
    filter: &E::Filter,
    group_by: &[E::Dimension],
) -> Result<Vec<Bucket>>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
    C: ConnectionTrait,
{
    Ok(
        stats::stats::<E, C>(db, access, Some(filter), group_by, cache)
            .await?
            .buckets,
    )
}

/// The sum of the buckets' published counts (a left-out cell publishes nothing).
fn count_of(buckets: &[Bucket]) -> i64 {
    buckets.iter().filter_map(|b| b.count).sum()
}

/// The sum of the buckets' published `i`th sums; `None` when none publishes one.
fn sum_of(buckets: &[Bucket], i: usize) -> Option<i64> {
    buckets
        .iter()
        .filter_map(|b| b.sums.get(i).copied().flatten())
        .reduce(|a, b| a + b)
}

fn one<T>(value: Option<T>) -> Option<Vec<T>> {
    value.map(|v| vec![v])
}

fn year(fy: i32) -> Option<IntRange> {
    Some(IntRange {
        min: Some(fy),
        max: Some(fy),
    })
}

/// A protected ratio of two published counts (or sums), its per mille clamped to 0..=1000: the
/// perturbation may make a part exceed its whole.
fn protected_ratio(numerator: i64, denominator: i64) -> Actual {
    let mut a = ratio(numerator, denominator, true);
    a.value = a.value.map(|v| v.clamp(0, 1000));
    a
}

/// The metric's value for a caller whose aggregates of an entity it reads are protected: only
/// the cells (or sums of the cells) that entity's `…Stats` query publishes to the caller, grouped
/// by every dimension the metric restricts (a trace's fiscal year is `FISCAL_YEAR`), so a measure
/// can never be subtracted from a published answer to isolate a small cell. A parameter or
/// condition that is no published dimension is refused with FORBIDDEN.
async fn protected<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    cache: Option<&StatsCache>,
    metric: &Metric,
    params: &Params,
    fy: i32,
) -> Result<Actual> {
    if let Some(name) = params
        .keys()
        .find(|n| !DIMENSION_PARAMS.contains(&n.as_str()))
    {
        return Err(finer(
            access,
            metric,
            &format!("is restricted by {name}, which is no stats dimension"),
        ));
    }
    let param = |name: &str| params.get(name).cloned();
    let agency = |name: &str| param(name).and_then(|v| Agency::parse(&v));
    match metric.name {
        "traces_submitted"
        | "traces_to_purchaser_per_mille"
        | "us_origin_per_mille"
        | "median_time_to_crime_days" => {
            use TraceDimension as D;
            let base = TraceFilter {
                fiscal_year: year(fy),
                recovery_state: one(param("recoveryState")),
                ..TraceFilter::default()
            };
            let mut dims = vec![D::FiscalYear];
            if base.recovery_state.is_some() {
                dims.push(D::RecoveryState);
            }
            let all = published::<trace::Entity, C>(db, access, cache, &base, &dims).await?;
            match metric.name {
                "traces_submitted" => Ok(single(Some(count_of(&all)), true)),
                "median_time_to_crime_days" => Ok(single(all.first().and_then(|b| b.median), true)),
                name => {
                    let (part, dim) = if name == "us_origin_per_mille" {
                        let classes = vec![SourceClass::UsManufactured, SourceClass::UsImported];
                        (
                            TraceFilter {
                                source_class: Some(classes),
                                ..base.clone()
                            },
                            D::SourceClass,
                        )
                    } else {
                        (
                            TraceFilter {
                                status: Some(vec![TraceStatus::Completed]),
                                ..base.clone()
                            },
                            D::Status,
                        )
                    };
                    let mut part_dims = dims.clone();
                    part_dims.push(dim);
                    let part =
                        published::<trace::Entity, C>(db, access, cache, &part, &part_dims).await?;
                    Ok(protected_ratio(count_of(&part), count_of(&all)))
                }
            }
        }
        "seized_firearms_matched_to_traces" => Err(finer(
            access,
            metric,
            "follows firearm links, which no stats cell counts",
        )),
        "firearms_seized"
        | "southbound_firearms_seized"
        | "ice_task_force_firearms"
        | "joint_operation_firearms"
        | "cbp_outbound_firearms" => {
            use SeizureDimension as D;
            let mut f = SeizureFilter {
                fiscal_year: year(fy),
                seizing_agency: one(agency("seizingAgency")),
                direction: one(param("direction").and_then(|v| Direction::parse(&v))),
                port_of_entry: one(param("portOfEntry")),
                operation: one(param("operation")),
                ..SeizureFilter::default()
            };
            let mut at_a_port = false;
            match metric.name {
                "southbound_firearms_seized" => f.direction = Some(vec![Direction::Outbound]),
                "ice_task_force_firearms" => {
                    f.seizing_agency = Some(vec![Agency::Ice]);
                    f.operation = Some(vec![
                        SOUTHWEST_BORDER_TASK_FORCE.to_owned(),
                        BEST_TASK_FORCE.to_owned(),
                    ]);
                }
                "joint_operation_firearms" => f.operation = Some(vec![JOINT_OPERATION.to_owned()]),
                "cbp_outbound_firearms" => {
                    f.seizing_agency = Some(vec![Agency::Cbp]);
                    f.direction = Some(vec![Direction::Outbound]);
                    at_a_port = true;
                }
                _ => {}
            }
            let mut dims = vec![D::FiscalYear];
            for (set, dim) in [
                (f.seizing_agency.is_some(), D::SeizingAgency),
                (f.direction.is_some(), D::Direction),
                (f.port_of_entry.is_some() || at_a_port, D::PortOfEntry),
                (f.operation.is_some(), D::Operation),
            ] {
                if set {
                    dims.push(dim);
                }
            }
            let mut buckets = published::<seizure::Entity, C>(db, access, cache, &f, &dims).await?;
            if at_a_port {
                // Seizures at a port of entry: the buckets whose port is known.
                let i = dims.iter().position(|d| *d == D::PortOfEntry).unwrap_or(0);
                buckets.retain(|b| !matches!(b.keys.get(i), Some(Cell::Null) | None));
            }
            Ok(single(sum_of(&buckets, 0), true))
        }
        "trainings_delivered" | "officials_trained" | "etrace_accounts_granted" => {
            use TrainingDimension as D;
            let fiscal_year = match metric.span {
                Span::FiscalYear => year(fy),
                Span::ToDate => Some(IntRange {
                    min: None,
                    max: Some(fy),
                }),
            };
            let f = TrainingFilter {
                fiscal_year,
                provider: one(agency("provider")),
                course: one(param("course").and_then(|v| CourseKind::parse(&v))),
                ..TrainingFilter::default()
            };
            let mut dims = vec![D::FiscalYear];
            if f.provider.is_some() {
                dims.push(D::Provider);
            }
            if f.course.is_some() {
                dims.push(D::Course);
            }
            let buckets =
                published::<training_event::Entity, C>(db, access, cache, &f, &dims).await?;
            Ok(match metric.name {
                "trainings_delivered" => single(Some(count_of(&buckets)), true),
                "officials_trained" => single(sum_of(&buckets, 0), true),
                _ => single(sum_of(&buckets, 1), true),
            })
        }
        "funding_obligated" | "funding_disbursed" | "funding_disbursed_per_mille" => {
            use FundingDimension as D;
            let f = FundingFilter {
                fiscal_year: year(fy),
                category: one(param("category").and_then(|v| FundingCategory::parse(&v))),
                implementing_agency: one(agency("implementingAgency")),
                ..FundingFilter::default()
            };
            let mut dims = vec![D::FiscalYear];
            if f.category.is_some() {
                dims.push(D::Category);
            }
            if f.implementing_agency.is_some() {
                dims.push(D::ImplementingAgency);
            }
            let buckets =
                published::<funding_award::Entity, C>(db, access, cache, &f, &dims).await?;
            let obligated = sum_of(&buckets, 0);
            let disbursed = sum_of(&buckets, 1);
            Ok(match metric.name {
                "funding_obligated" => single(obligated.map(dollars), true),
                "funding_disbursed" => single(disbursed.map(dollars), true),
                _ => match (disbursed, obligated) {
                    (Some(d), Some(o)) => protected_ratio(d, o),
                    _ => single(None, true),
                },
            })
        }
        "etrace_state_agencies" => exact_reference(db, fy).await,
        other => Err(Error::Unexpected(anyhow::anyhow!(
            "metric {other} is in the catalogue but not computed"
        ))),
    }
}

/// Mexican state agencies with eTrace access by the end of fiscal year `fy`: reference data every
/// role reads.
async fn exact_reference<C: ConnectionTrait>(db: &C, fy: i32) -> Result<Actual> {
    let (_, end) = fiscal_year_bounds(fy);
    let n = agency::Entity::find()
        .filter(agency::Column::Kind.eq("MX_STATE"))
        .filter(agency::Column::EtraceAccessSince.lte(end))
        .count(db)
        .await?;
    Ok(single(Some(i64::try_from(n).unwrap_or(i64::MAX)), false))
}

/// The seized firearm (`seizure_firearm.firearm_id`) is a traced gun's record: held by a trace,
/// or linked, by identical serials or a confirmed near serial and in any number of steps, to a
/// record a trace holds (`links::of_a_traced_gun`).
fn traced() -> SimpleExpr {
    let backend = if super::backend_is_postgres() {
        sea_orm::DbBackend::Postgres
    } else {
        sea_orm::DbBackend::Sqlite
    };
    Expr::cust(super::links::of_a_traced_gun(
        backend,
        "seizure_firearm.firearm_id",
    ))
}

/// The time of the data a metric reads: the latest `ingestedAt` of the records of its entities;
/// `None` with no records, and for a metric of reference data only (the agencies' eTrace dates,
/// which carry no ingestion time).
pub(crate) async fn as_of<C: ConnectionTrait>(
    db: &C,
    metric: &Metric,
) -> Result<Option<chrono::DateTime<Utc>>> {
    let tables: Vec<&str> = metric
        .reads
        .iter()
        .filter_map(|k| match k {
            EntityKind::Trace => Some("trace"),
            EntityKind::Seizure => Some("seizure"),
            EntityKind::Training => Some("training_event"),
            EntityKind::FundingAward => Some("funding_award"),
            _ => None,
        })
        .collect();
    let mut latest = None;
    for table in tables {
        let sql = format!("SELECT MAX(ingested_at) AS t FROM {table}");
        let backend = db.get_database_backend();
        if let Some(row) = db
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await?
        {
            let t: Option<chrono::DateTime<Utc>> = row.try_get("", "t").ok().flatten();
            latest = latest.max(t);
        }
    }
    Ok(latest)
}

/// How an actual stands against the measure's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "MeasureStatus")]
pub(crate) enum Status {
    OnTrack,
    OffTrack,
    NotYetMeasurable,
}

/// The status of `value` for fiscal year `fy` of a measure running from `baseline` at
/// `period_start` to `target` at `period_end`, on `today`:
/// - NOT_YET_MEASURABLE when the fiscal year has not ended by `today` or there is no value;
/// - else the expected value is the linear path's at the fiscal year's last day (or the period's
///   end, if earlier): `baseline + (target − baseline) × elapsed / length`, in days from the
///   period's start, elapsed clamped to the period;
/// - ON_TRACK when the value is at least the expected one (at most, when the target is below the
///   baseline), else OFF_TRACK. Compared exactly, in integers.
pub(crate) fn status(m: &measure::Model, fy: i32, value: Option<i64>, today: NaiveDate) -> Status {
    let (_, fy_end) = fiscal_year_bounds(fy);
    let Some(value) = value else {
        return Status::NotYetMeasurable;
    };
    if fy_end >= today {
        return Status::NotYetMeasurable;
    }
    let length = i128::from((m.period_end - m.period_start).num_days().max(1));
    let elapsed =
        i128::from((fy_end.min(m.period_end) - m.period_start).num_days()).clamp(0, length);
    let (baseline, target, value) = (
        i128::from(m.baseline),
        i128::from(m.target),
        i128::from(value),
    );
    // value ≥ baseline + (target − baseline) × elapsed / length, times length.
    let scaled = value * length;
    let expected = baseline * length + (target - baseline) * elapsed;
    let on_track = if target >= baseline {
        scaled >= expected
    } else {
        scaled <= expected
    };
    if on_track {
        Status::OnTrack
    } else {
        Status::OffTrack
    }
}

/// The fiscal years a measure's period touches, in order.
pub(crate) fn fiscal_years(m: &measure::Model) -> std::ops::RangeInclusive<i32> {
    use crate::domain::calendar::fiscal_year;
    fiscal_year(m.period_start)..=fiscal_year(m.period_end)
}

/// Every measure (retired ones too when asked), by code.
pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    include_retired: bool,
) -> Result<Vec<measure::Model>> {
    let mut select = measure::Entity::find().order_by_asc(measure::Column::Code);
    if !include_retired {
        select = select.filter(measure::Column::RetiredAt.is_null());
    }
    Ok(select.all(db).await?)
}

/// A measure code as stored: trimmed, upper-case.
fn normal_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// The measure of this code (compared as stored: trimmed, upper-case), retired or not.
pub(crate) async fn get<C: ConnectionTrait>(db: &C, code: &str) -> Result<Option<measure::Model>> {
    Ok(measure::Entity::find()
        .filter(measure::Column::Code.eq(normal_code(code)))
        .one(db)
        .await?)
}

/// The superseded versions of a measure, oldest first.
pub(crate) async fn versions<C: ConnectionTrait>(
    db: &C,
    measure_id: i64,
) -> Result<Vec<version::Model>> {
    Ok(version::Entity::find()
        .filter(version::Column::MeasureId.eq(measure_id))
        .order_by_asc(version::Column::Version)
        .all(db)
        .await?)
}

/// A measure's definition as a create or update gives it.
#[derive(Debug, Clone)]
pub(crate) struct Definition {
    pub goal: Option<String>,
    pub indicator: Option<String>,
    pub metric: Option<String>,
    pub parameters: Option<Params>,
    pub baseline: Option<i64>,
    pub target: Option<i64>,
    pub period_start: Option<NaiveDate>,
    pub period_end: Option<NaiveDate>,
}

/// Who may change a measure of `owner`: that agency's role and oversight.
fn check_may_change(access: &Access, owner: Agency) -> Result<()> {
    if access.role() == Role::Oversight || access.agency() == Some(owner) {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "measures owned by {owner} are changed only by {owner} and oversight"
        )))
    }
}

fn text(value: Option<String>, field: &str, max: usize) -> Result<Option<String>> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if v.is_empty() || v.chars().count() > max => Err(Error::invalid(
            field,
            format!("must be 1 to {max} characters"),
        )),
        other => Ok(other),
    }
}

/// The definition's fields checked and applied to `m`.
fn apply(m: &mut measure::Model, d: Definition) -> Result<()> {
    if let Some(goal) = text(d.goal, "goal", 500)? {
        m.goal = goal;
    }
    if let Some(indicator) = text(d.indicator, "indicator", 500)? {
        m.indicator = indicator;
    }
    if let Some(name) = d.metric {
        let name = name.trim();
        if metric(name).is_none() {
            return Err(Error::invalid(
                "metric",
                format!("'{name}' is not a metric of the catalogue (see metricCatalogue)"),
            ));
        }
        name.clone_into(&mut m.metric);
    }
    let metric = metric(&m.metric).ok_or_else(|| {
        Error::invalid(
            "metric",
            "the measure's metric is not in the catalogue; choose one",
        )
    })?;
    let params = match d.parameters {
        Some(p) => p,
        None => stored_params(m)?,
    };
    let params = validate_params(metric, &params, "parameters")?;
    m.parameters = serde_json::to_string(&params).map_err(anyhow::Error::from)?;
    if let Some(b) = d.baseline {
        m.baseline = b;
    }
    if let Some(t) = d.target {
        m.target = t;
    }
    for (v, field) in [(m.baseline, "baseline"), (m.target, "target")] {
        if v < 0 {
            return Err(Error::invalid(field, "must not be negative"));
        }
    }
    if let Some(s) = d.period_start {
        m.period_start = s;
    }
    if let Some(e) = d.period_end {
        m.period_end = e;
    }
    if m.period_end <= m.period_start {
        return Err(Error::invalid("periodEnd", "must be after periodStart"));
    }
    Ok(())
}

/// The audit event of a measure write, naming the measure's code and the version it now has.
fn write_event(mut event: NewEvent, m: &measure::Model) -> NewEvent {
    let owner = m.owner_agency;
    event.operation = format!("{} {} v{}", event.operation, m.code, m.version);
    event.entities = vec!["performanceMeasure".into()];
    event.data_owners = vec![owner];
    event.rows_returned = 1;
    event
}

/// Copies the measure as it is into its history, superseded now by the caller.
async fn keep_version<C: ConnectionTrait>(
    txn: &C,
    access: &Access,
    m: &measure::Model,
) -> Result<()> {
    version::ActiveModel {
        id: NotSet,
        measure_id: Set(m.id),
        code: Set(m.code.clone()),
        goal: Set(m.goal.clone()),
        indicator: Set(m.indicator.clone()),
        metric: Set(m.metric.clone()),
        parameters: Set(m.parameters.clone()),
        baseline: Set(m.baseline),
        target: Set(m.target),
        period_start: Set(m.period_start),
        period_end: Set(m.period_end),
        owner_agency: Set(m.owner_agency),
        version: Set(m.version),
        retired_at: Set(m.retired_at),
        superseded_at: Set(Utc::now()),
        superseded_by: Set(access.caller.subject.chars().take(200).collect()),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// A unique index refusing a measure: another write took its code (or version) meanwhile.
fn taken(e: sea_orm::DbErr, code: &str) -> Error {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::Conflict(format!(
            "measure {code} was created or changed by someone else meanwhile; read it again"
        )),
        _ => e.into(),
    }
}

/// Writes `active` over the measure `id` only if it is still at `version`; CONFLICT when another
/// write changed it meanwhile (on PostgreSQL the statement waits for that write and then matches
/// no row).
async fn update_if_at<C: ConnectionTrait>(
    txn: &C,
    id: i64,
    code: &str,
    version: i32,
    active: measure::ActiveModel,
) -> Result<measure::Model> {
    let done = measure::Entity::update_many()
        .set(active)
        .filter(measure::Column::Id.eq(id))
        .filter(measure::Column::Version.eq(version))
        .exec(txn)
        .await
        .map_err(|e| taken(e, code))?;
    if done.rows_affected == 0 {
        return Err(Error::Conflict(format!(
            "measure {code} was changed since version {version}; read it again and reapply the change"
        )));
    }
    measure::Entity::find_by_id(id)
        .one(txn)
        .await?
        .ok_or(Error::NotFound)
}

/// Creates a measure owned by `owner` (the caller's agency; oversight names one), at version 1.
pub(crate) async fn create(
    db: &DatabaseConnection,
    access: &Access,
    code: &str,
    owner: Option<Agency>,
    d: Definition,
    event: NewEvent,
) -> Result<measure::Model> {
    let owner = match (access.agency(), owner) {
        (Some(own), None) => own,
        (Some(own), Some(o)) if o == own => own,
        (Some(_), Some(o)) => {
            return Err(Error::Forbidden(format!(
                "measures owned by {o} are created only by {o} and oversight"
            )));
        }
        (None, Some(o)) => o,
        (None, None) => {
            return Err(Error::invalid(
                "ownerAgency",
                "oversight names the owner agency",
            ));
        }
    };
    check_may_change(access, owner)?;
    let code = normal_code(code);
    if code.is_empty()
        || code.len() > 48
        || !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Error::invalid(
            "code",
            "must be 1 to 48 letters, digits, '-' or '_'",
        ));
    }
    let required = [
        (d.goal.is_none(), "goal"),
        (d.indicator.is_none(), "indicator"),
        (d.metric.is_none(), "metric"),
        (d.baseline.is_none(), "baseline"),
        (d.target.is_none(), "target"),
        (d.period_start.is_none(), "periodStart"),
        (d.period_end.is_none(), "periodEnd"),
    ];
    if let Some((_, field)) = required.iter().find(|(missing, _)| *missing) {
        return Err(Error::invalid(*field, "is required to create a measure"));
    }
    let mut m = measure::Model {
        id: 0,
        code: code.clone(),
        goal: String::new(),
        indicator: String::new(),
        metric: String::new(),
        baseline: 0,
        target: 0,
        period_start: NaiveDate::MIN,
        period_end: NaiveDate::MIN,
        owner_agency: owner,
        source_system: "firearms-hub".into(),
        ingested_at: Utc::now(),
        version: 1,
        parameters: "{}".into(),
        retired_at: None,
    };
    apply(&mut m, d)?;
    let txn = super::begin_write(db).await?;
    if get(&txn, &code).await?.is_some() {
        return Err(Error::Conflict(format!(
            "a measure with code {code} exists"
        )));
    }
    let mut active = measure::ActiveModel::from(m).reset_all();
    active.id = NotSet;
    let stored = active.insert(&txn).await.map_err(|e| taken(e, &code))?;
    super::generation::bump(&txn, super::generation::Scope::Records).await?;
    crate::audit::commit_with(txn, write_event(event, &stored)).await?;
    Ok(stored)
}

/// Changes a measure (its owner or oversight), keeping the version it replaces.
pub(crate) async fn update(
    db: &DatabaseConnection,
    access: &Access,
    code: &str,
    expected_version: i32,
    d: Definition,
    event: NewEvent,
) -> Result<measure::Model> {
    let txn = super::begin_write(db).await?;
    let found = get(&txn, code).await?.ok_or(Error::NotFound)?;
    check_may_change(access, found.owner_agency)?;
    if found.retired_at.is_some() {
        return Err(Error::Conflict(format!(
            "measure {} is retired and can no longer be changed",
            found.code
        )));
    }
    let v = expected_version;
    if v != found.version {
        return Err(Error::Conflict(format!(
            "the measure was changed since version {v} (it is now version {}); read it again and reapply the change",
            found.version
        )));
    }
    let mut m = found.clone();
    apply(&mut m, d)?;
    m.version = found.version + 1;
    let mut active = measure::ActiveModel::from(m).reset_all();
    active.id = NotSet;
    let stored = update_if_at(&txn, found.id, &found.code, found.version, active).await?;
    // The row is this transaction's now: a racing write waits, then matches no row.
    keep_version(&txn, access, &found).await?;
    super::generation::bump(&txn, super::generation::Scope::Records).await?;
    crate::audit::commit_with(txn, write_event(event, &stored)).await?;
    Ok(stored)
}

/// Retires a measure (its owner or oversight): it stays, with its history, but is no longer listed
/// by default nor changed.
pub(crate) async fn retire(
    db: &DatabaseConnection,
    access: &Access,
    code: &str,
    event: NewEvent,
) -> Result<measure::Model> {
    let txn = super::begin_write(db).await?;
    let found = get(&txn, code).await?.ok_or(Error::NotFound)?;
    check_may_change(access, found.owner_agency)?;
    if found.retired_at.is_some() {
        return Err(Error::Conflict(format!(
            "measure {} is already retired",
            found.code
        )));
    }
    let active = measure::ActiveModel {
        retired_at: Set(Some(Utc::now())),
        version: Set(found.version + 1),
        ..Default::default()
    };
    let stored = update_if_at(&txn, found.id, &found.code, found.version, active).await?;
    keep_version(&txn, access, &found).await?;
    super::generation::bump(&txn, super::generation::Scope::Records).await?;
    crate::audit::commit_with(txn, write_event(event, &stored)).await?;
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(baseline: i64, target: i64) -> measure::Model {
        measure::Model {
            id: 1,
            code: "X".into(),
            goal: "g".into(),
            indicator: "i".into(),
            metric: "traces_submitted".into(),
            baseline,
            target,
            period_start: NaiveDate::from_ymd_opt(2020, 10, 1).unwrap(),
            period_end: NaiveDate::from_ymd_opt(2024, 9, 30).unwrap(),
            owner_agency: Agency::Atf,
            source_system: "t".into(),
            ingested_at: Utc::now(),
            version: 1,
            parameters: "{}".into(),
            retired_at: None,
        }
    }

    #[test]
    fn per_mille_rounds_half_up_and_needs_a_denominator() {
        assert_eq!(per_mille(26_860, 80_000), Some(336));
        assert_eq!(per_mille(1, 2000), Some(1));
        assert_eq!(per_mille(1, 2001), Some(0));
        assert_eq!(per_mille(5, 0), None);
        assert_eq!(dollars(150), 2);
        assert_eq!(dollars(149), 1);
    }

    #[test]
    fn status_follows_the_linear_path_in_either_direction() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let rising = measure(100, 500);
        // FY2022 ends 2022-09-30, 729 of the period's 1460 days in: the path expects about 300.
        assert_eq!(status(&rising, 2022, Some(400), today), Status::OnTrack);
        assert_eq!(status(&rising, 2022, Some(200), today), Status::OffTrack);
        assert_eq!(status(&rising, 2024, Some(499), today), Status::OffTrack);
        assert_eq!(status(&rising, 2024, Some(500), today), Status::OnTrack);
        let falling = measure(500, 100);
        assert_eq!(status(&falling, 2024, Some(100), today), Status::OnTrack);
        assert_eq!(status(&falling, 2024, Some(101), today), Status::OffTrack);
        assert_eq!(
            status(&rising, 2026, Some(900), today),
            Status::NotYetMeasurable
        );
        assert_eq!(status(&rising, 2022, None, today), Status::NotYetMeasurable);
    }

    #[test]
    fn parameters_are_checked_against_the_metric() {
        let m = metric("firearms_seized").unwrap();
        let ok: Params = [("seizingAgency".to_owned(), "ice".to_owned())].into();
        assert_eq!(
            validate_params(m, &ok, "parameters").unwrap()["seizingAgency"],
            "ICE"
        );
        let bad: Params = [("seizingAgency".to_owned(), "ATF".to_owned())].into();
        let Err(Error::Invalid { field, .. }) = validate_params(m, &bad, "parameters") else {
            panic!("ATF does not seize")
        };
        assert_eq!(field, "parameters.seizingAgency");
        let unknown: Params = [("port".to_owned(), "X".to_owned())].into();
        assert!(validate_params(m, &unknown, "parameters").is_err());
    }

    #[test]
    fn unreadable_stored_parameters_are_an_error_not_none() {
        let mut m = measure(1, 2);
        m.parameters = "{not json".into();
        assert!(matches!(stored_params(&m), Err(Error::Unexpected(_))));
        m.parameters = r#"{"recoveryState":"MX-SON"}"#.into();
        assert_eq!(stored_params(&m).unwrap()["recoveryState"], "MX-SON");
    }

    #[test]
    fn a_protected_per_mille_stays_within_its_whole() {
        assert_eq!(protected_ratio(12, 10).value, Some(1000));
        assert_eq!(protected_ratio(5, 10).value, Some(500));
        assert_eq!(protected_ratio(0, 0).value, None);
        assert!(protected_ratio(5, 10).suppressed);
    }

    #[test]
    fn every_metric_is_named_once() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
    }
}
