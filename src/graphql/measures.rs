//! Performance measures in the API: every role reads their definitions and the metric catalogue;
//! each actual value is computed live through the store, as the caller's aggregate access to the
//! entities its metric reads allows (`null` with FORBIDDEN at `value` where it has none). The owner
//! agency and oversight create, change and retire measures.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{Agency, performance_measure as measure, performance_measure_version as version};

use super::context::request;
use super::errors::ResultExt;
use crate::domain::scalars::Date;
use crate::error::Error;
use crate::store::measures::{self, Actual, Definition, Params, Span, Status, Unit};

/// A parameter of a metric, as the catalogue lists it.
#[derive(SimpleObject)]
pub(crate) struct MetricParameter {
    pub name: String,
    #[graphql(name = "type")]
    pub kind: measures::ParamType,
    pub description: String,
}

/// A metric of the catalogue: a named computation from the records, per fiscal year.
#[derive(SimpleObject)]
pub(crate) struct MetricDefinition {
    pub name: String,
    pub description: String,
    pub unit: Unit,
    pub span: Span,
    /// The entities whose aggregates it reads ("trace", "seizure", "training", "fundingAward");
    /// a caller's value follows its aggregate access to each.
    pub reads: Vec<String>,
    pub parameters: Vec<MetricParameter>,
}

impl From<&measures::Metric> for MetricDefinition {
    fn from(m: &measures::Metric) -> Self {
        MetricDefinition {
            name: m.name.to_owned(),
            description: m.description.to_owned(),
            unit: m.unit,
            span: m.span,
            reads: m.reads.iter().map(|k| k.as_str().to_owned()).collect(),
            parameters: m
                .parameters
                .iter()
                .map(|p| MetricParameter {
                    name: p.name.to_owned(),
                    kind: p.kind,
                    description: p.description.to_owned(),
                })
                .collect(),
        }
    }
}

/// A metric parameter's value, as given to a measure.
#[derive(SimpleObject, InputObject, Clone)]
#[graphql(input_name = "MetricParameterInput")]
pub(crate) struct MetricParameterValue {
    pub name: String,
    pub value: String,
}

fn param_values(params: &Params) -> Vec<MetricParameterValue> {
    params
        .iter()
        .map(|(name, value)| MetricParameterValue {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// The metric a measure computes, with its parameters.
#[derive(SimpleObject)]
pub(crate) struct MeasureMetric {
    pub name: String,
    /// Null when the stored metric is no longer in the catalogue.
    pub unit: Option<Unit>,
    pub parameters: Vec<MetricParameterValue>,
}

/// A measure's actual value for one fiscal year.
pub(crate) struct MeasureActual {
    fiscal_year: i32,
    /// The refusal's reason when the caller may not read an input's aggregates.
    actual: Result<Actual, String>,
    status: Status,
}

#[Object]
impl MeasureActual {
    /// The U.S. federal fiscal year (October 1 to September 30, named by its end).
    async fn fiscal_year(&self) -> i32 {
        self.fiscal_year
    }

    /// The metric's value in its unit; null when there is nothing to measure, and null with
    /// FORBIDDEN when the caller may not read the aggregates of an entity the metric reads.
    async fn value(&self) -> async_graphql::Result<Option<i64>> {
        match &self.actual {
            Ok(a) => Ok(a.value),
            Err(reason) => Err(Error::Forbidden(reason.clone())).gql(),
        }
    }

    /// A ratio's numerator (null for other units).
    async fn numerator(&self) -> Option<i64> {
        self.actual.as_ref().ok().and_then(|a| a.numerator)
    }

    /// A ratio's denominator (null for other units).
    async fn denominator(&self) -> Option<i64> {
        self.actual.as_ref().ok().and_then(|a| a.denominator)
    }

    /// True when the numbers are protected by the cell key method (an aggregate-only role), not
    /// exact.
    async fn suppressed(&self) -> bool {
        self.actual.as_ref().is_ok_and(|a| a.suppressed)
    }

    /// ON_TRACK or OFF_TRACK against the linear path from the baseline at the period's start to the
    /// target at its end; NOT_YET_MEASURABLE while the fiscal year runs or without a value.
    async fn status(&self) -> Status {
        self.status
    }
}

/// A superseded version of a measure.
#[derive(SimpleObject)]
pub(crate) struct PerformanceMeasureVersion {
    pub version: i32,
    pub goal: String,
    pub indicator: String,
    pub owner_agency: Agency,
    pub metric: MeasureMetric,
    pub baseline: i64,
    pub target: i64,
    pub period_start: Date,
    pub period_end: Date,
    pub retired_at: Option<DateTime<Utc>>,
    pub superseded_at: DateTime<Utc>,
    pub superseded_by: String,
}

fn measure_metric(name: &str, params: Params) -> MeasureMetric {
    MeasureMetric {
        name: name.to_owned(),
        unit: measures::metric(name).map(|m| m.unit),
        parameters: param_values(&params),
    }
}

impl PerformanceMeasureVersion {
    fn of(v: version::Model) -> crate::error::Result<Self> {
        let params = measures::parse_params(&v.code, &v.parameters)?;
        Ok(PerformanceMeasureVersion {
            version: v.version,
            goal: v.goal,
            indicator: v.indicator,
            owner_agency: v.owner_agency,
            metric: measure_metric(&v.metric, params),
            baseline: v.baseline,
            target: v.target,
            period_start: Date(v.period_start),
            period_end: Date(v.period_end),
            retired_at: v.retired_at,
            superseded_at: v.superseded_at,
            superseded_by: v.superseded_by,
        })
    }
}

/// A performance measure: an agency's goal, indicator, baseline, target and period, with its
/// actual values computed from the records.
pub(crate) struct PerformanceMeasure(pub measure::Model);

#[Object]
impl PerformanceMeasure {
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn goal(&self) -> &str {
        &self.0.goal
    }
    async fn indicator(&self) -> &str {
        &self.0.indicator
    }
    async fn owner_agency(&self) -> Agency {
        self.0.owner_agency
    }
    async fn metric(&self) -> async_graphql::Result<MeasureMetric> {
        let params = measures::stored_params(&self.0).gql()?;
        Ok(measure_metric(&self.0.metric, params))
    }
    async fn baseline(&self) -> i64 {
        self.0.baseline
    }
    async fn target(&self) -> i64 {
        self.0.target
    }
    async fn period_start(&self) -> Date {
        Date(self.0.period_start)
    }
    async fn period_end(&self) -> Date {
        Date(self.0.period_end)
    }
    /// Starts at 1; every change and the retirement add one.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// When the measure was retired; null while it is in use.
    async fn retired_at(&self) -> Option<DateTime<Utc>> {
        self.0.retired_at
    }

    /// The actual value per fiscal year of the period (every fiscal year the period touches), or
    /// of the one asked for, which must be one of them.
    async fn actuals(
        &self,
        ctx: &Context<'_>,
        fiscal_year: Option<i32>,
    ) -> async_graphql::Result<Vec<MeasureActual>> {
        let r = request(ctx)?;
        let years = measures::fiscal_years(&self.0);
        let years: Vec<i32> = match fiscal_year {
            Some(fy) if years.contains(&fy) => vec![fy],
            Some(fy) => {
                return Err(Error::invalid(
                    "fiscalYear",
                    format!(
                        "FY{fy} is outside the measure's period (FY{} to FY{})",
                        years.start(),
                        years.end()
                    ),
                ))
                .gql();
            }
            None => years.collect(),
        };
        let Some(metric) = measures::metric(&self.0.metric) else {
            return Err(Error::Unexpected(anyhow::anyhow!(
                "measure {} names metric {}, which is not in the catalogue",
                self.0.code,
                self.0.metric
            )))
            .gql();
        };
        let params = measures::stored_params(&self.0).gql()?;
        let today = Utc::now().date_naive();
        let cache = ctx.data_opt::<std::sync::Arc<crate::store::canonical::StatsCache>>();
        let mut out = Vec::with_capacity(years.len());
        for fy in years {
            let actual =
                match measures::compute(&r.db, &r.access, cache.map(|c| &**c), metric, &params, fy)
                    .await
                {
                    Err(Error::Forbidden(reason)) => Err(reason),
                    other => Ok(other.gql()?),
                };
            let value = actual.as_ref().ok().and_then(|a| a.value);
            out.push(MeasureActual {
                fiscal_year: fy,
                status: measures::status(&self.0, fy, value, today),
                actual,
            });
        }
        Ok(out)
    }

    /// The time of the data the actuals are computed from: the latest time a record of an entity
    /// the metric reads was ingested; null for a metric of reference data only, and null with
    /// FORBIDDEN when the caller may not read the metric's values.
    async fn as_of(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<DateTime<Utc>>> {
        let r = request(ctx)?;
        match measures::metric(&self.0.metric) {
            Some(metric) => {
                measures::check_readable(&r.access, metric).gql()?;
                measures::as_of(&r.db, metric).await.gql()
            }
            None => Ok(None),
        }
    }

    /// The versions this measure had before its current one, oldest first.
    async fn previous_versions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<PerformanceMeasureVersion>> {
        let r = request(ctx)?;
        let rows = measures::versions(&r.db, self.0.id).await.gql()?;
        rows.into_iter()
            .map(PerformanceMeasureVersion::of)
            .collect::<crate::error::Result<_>>()
            .gql()
    }
}

#[derive(Default)]
pub(crate) struct MeasureQuery;

#[Object]
impl MeasureQuery {
    /// The performance measures, by code; retired ones only when asked.
    async fn performance_measures(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_retired: bool,
    ) -> async_graphql::Result<Vec<PerformanceMeasure>> {
        let r = request(ctx)?;
        let rows = measures::list(&r.db, include_retired).await.gql()?;
        Ok(rows.into_iter().map(PerformanceMeasure).collect())
    }

    /// One measure by its code, retired or not.
    async fn performance_measure(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Option<PerformanceMeasure>> {
        let r = request(ctx)?;
        Ok(measures::get(&r.db, &code)
            .await
            .gql()?
            .map(PerformanceMeasure))
    }

    /// The metrics a measure may compute, with their parameters and units.
    async fn metric_catalogue(&self) -> Vec<MetricDefinition> {
        measures::CATALOGUE.iter().map(Into::into).collect()
    }
}

/// A new measure. `ownerAgency` is the caller's agency (oversight names it).
#[derive(InputObject)]
pub(crate) struct PerformanceMeasureInput {
    pub code: String,
    pub owner_agency: Option<Agency>,
    pub goal: String,
    pub indicator: String,
    /// A metric of `metricCatalogue`.
    pub metric: String,
    pub parameters: Option<Vec<MetricParameterValue>>,
    pub baseline: i64,
    pub target: i64,
    pub period_start: Date,
    pub period_end: Date,
}

/// A change to a measure: only the fields given change (`parameters`, when given, replaces them
/// all).
#[derive(InputObject)]
pub(crate) struct PerformanceMeasurePatch {
    pub goal: Option<String>,
    pub indicator: Option<String>,
    /// A metric of `metricCatalogue`.
    pub metric: Option<String>,
    pub parameters: Option<Vec<MetricParameterValue>>,
    pub baseline: Option<i64>,
    pub target: Option<i64>,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
}

fn params(list: Option<Vec<MetricParameterValue>>) -> async_graphql::Result<Option<Params>> {
    let Some(list) = list else {
        return Ok(None);
    };
    let mut params = Params::new();
    for p in list {
        if params.insert(p.name.clone(), p.value).is_some() {
            return Err(Error::invalid(
                format!("parameters.{}", p.name),
                "is given twice",
            ))
            .gql();
        }
    }
    Ok(Some(params))
}

impl PerformanceMeasurePatch {
    fn definition(self) -> async_graphql::Result<Definition> {
        Ok(Definition {
            parameters: params(self.parameters)?,
            goal: self.goal,
            indicator: self.indicator,
            metric: self.metric,
            baseline: self.baseline,
            target: self.target,
            period_start: self.period_start.map(|d| d.0),
            period_end: self.period_end.map(|d| d.0),
        })
    }
}

impl PerformanceMeasureInput {
    fn definition(self) -> async_graphql::Result<Definition> {
        Ok(Definition {
            parameters: Some(params(self.parameters)?.unwrap_or_default()),
            goal: Some(self.goal),
            indicator: Some(self.indicator),
            metric: Some(self.metric),
            baseline: Some(self.baseline),
            target: Some(self.target),
            period_start: Some(self.period_start.0),
            period_end: Some(self.period_end.0),
        })
    }
}

#[derive(Default)]
pub(crate) struct MeasureMutation;

#[Object]
impl MeasureMutation {
    /// Creates a measure owned by the caller's agency (oversight names `ownerAgency`), at version 1.
    async fn create_performance_measure(
        &self,
        ctx: &Context<'_>,
        input: PerformanceMeasureInput,
    ) -> async_graphql::Result<PerformanceMeasure> {
        let r = request(ctx)?;
        let event = r.measure_event("createPerformanceMeasure");
        let (code, owner) = (input.code.clone(), input.owner_agency);
        let made =
            measures::create(&r.db, &r.access, &code, owner, input.definition()?, event).await;
        Ok(PerformanceMeasure(made.gql()?))
    }

    /// Changes a measure (its owner agency or oversight); the version it replaces is kept. Refused
    /// with CONFLICT when the measure is no longer at `expectedVersion`.
    async fn update_performance_measure(
        &self,
        ctx: &Context<'_>,
        code: String,
        input: PerformanceMeasurePatch,
        expected_version: i32,
    ) -> async_graphql::Result<PerformanceMeasure> {
        let r = request(ctx)?;
        let event = r.measure_event("updatePerformanceMeasure");
        let changed = measures::update(
            &r.db,
            &r.access,
            &code,
            expected_version,
            input.definition()?,
            event,
        )
        .await;
        Ok(PerformanceMeasure(changed.gql()?))
    }

    /// Retires a measure (its owner agency or oversight): kept with its history, no longer listed
    /// by default nor changed.
    async fn retire_performance_measure(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<PerformanceMeasure> {
        let r = request(ctx)?;
        let event = r.measure_event("retirePerformanceMeasure");
        let retired = measures::retire(&r.db, &r.access, &code, event).await;
        Ok(PerformanceMeasure(retired.gql()?))
    }
}
