//! The cross-agency analyses: `traceCorridors`, `trainingOutcomes` and `fundingOutcomes`. Each
//! part of an answer is read under the caller's aggregate mode for its entity (`store::analytics`);
//! a part the caller may not read at all is `null` with FORBIDDEN at its path.

use async_graphql::{Context, Object, SimpleObject};
use entity::{Agency, FundingCategory};

use super::context::request;
use super::errors::ResultExt;
use super::query::stats_weight;
use super::stats::FundingKey;
use crate::error::Error;
use crate::policy::suppression::Cell;
use crate::store;
use crate::store::analytics::{self as analyses, Part};
use crate::store::filters::{FundingFilter, IntRange};

/// One flow of traced firearms from a U.S. purchase state to a Mexican recovery state in a year.
#[derive(SimpleObject)]
pub(crate) struct TraceCorridor {
    pub purchase_state: String,
    pub recovery_state: String,
    pub year: i64,
    pub count: i64,
    pub median_time_to_crime_days: Option<i64>,
    pub suppressed: bool,
}

/// The corridors, largest first.
#[derive(SimpleObject)]
pub(crate) struct TraceCorridors {
    pub suppressed: bool,
    pub corridors: Vec<TraceCorridor>,
}

/// Traces counted over a span of calendar years (both ends inclusive).
#[derive(SimpleObject)]
pub(crate) struct TraceYears {
    pub first_year: i64,
    pub last_year: i64,
    /// `null` (with `suppressed: true`) when the trained states are not published: protected
    /// trainings counted 0, or none of their (cell, state) cells published.
    pub count: Option<i64>,
}

/// Traces recovered in the trained states in the calendar years wholly before and wholly after a
/// fiscal year.
#[derive(SimpleObject)]
pub(crate) struct TraceWindow {
    pub before: TraceYears,
    pub after: TraceYears,
    /// The counts are sums of protected cells, or over only the published states of protected
    /// trainings, or withheld (`null`).
    pub suppressed: bool,
}

impl TraceWindow {
    fn new(w: analyses::TraceWindow, fiscal_year: i64, window: i64) -> TraceWindow {
        TraceWindow {
            before: TraceYears {
                first_year: fiscal_year - 1 - window,
                last_year: fiscal_year - 2,
                count: w.before,
            },
            after: TraceYears {
                first_year: fiscal_year + 1,
                last_year: fiscal_year + window,
                count: w.after,
            },
            suppressed: w.suppressed,
        }
    }
}

/// Trainings counted and summed.
#[derive(SimpleObject)]
pub(crate) struct OutcomeTrainings {
    pub count: Option<i64>,
    pub participants: Option<i64>,
    pub etrace_accounts_granted: Option<i64>,
    /// The Mexican states the trainings were held in.
    pub mexican_states: Vec<String>,
    pub suppressed: bool,
}

impl From<analyses::Trained> for OutcomeTrainings {
    fn from(t: analyses::Trained) -> Self {
        OutcomeTrainings {
            count: t.count,
            participants: t.participants,
            etrace_accounts_granted: t.etrace_accounts_granted,
            mexican_states: t.mexican_states,
            suppressed: t.suppressed,
        }
    }
}

/// A part's value, or FORBIDDEN at its path.
fn part<T, U>(part: &Part<T>, to: impl FnOnce(&T) -> U) -> async_graphql::Result<Option<U>> {
    match part {
        Ok(value) => Ok(Some(to(value))),
        Err(message) => Err::<Option<U>, Error>(Error::Forbidden(message.clone())).gql(),
    }
}

/// One Mexican state in one fiscal year: its trainings beside its traces.
pub(crate) struct TrainingOutcome {
    inner: analyses::TrainingOutcome,
    window: i64,
}

#[Object]
impl TrainingOutcome {
    async fn mexican_state(&self) -> &str {
        &self.inner.mexican_state
    }

    async fn fiscal_year(&self) -> i64 {
        self.inner.fiscal_year
    }

    async fn trainings(&self) -> OutcomeTrainings {
        self.inner.trainings.clone().into()
    }

    /// Traces recovered in the state before and after the fiscal year; `null` with FORBIDDEN when
    /// the role reads no trace aggregates.
    async fn traces(&self) -> async_graphql::Result<Option<TraceWindow>> {
        part(&self.inner.traces, |w| {
            TraceWindow::new(*w, self.inner.fiscal_year, self.window)
        })
    }
}

#[derive(SimpleObject)]
pub(crate) struct TrainingOutcomes {
    pub window: i64,
    pub outcomes: Vec<TrainingOutcome>,
}

/// One funding award, or (for a role reading only funding aggregates) one cell of awards.
pub(crate) struct FundingOutcome {
    inner: analyses::FundingOutcome,
    window: i64,
}

impl FundingOutcome {
    fn fiscal_year(&self) -> i64 {
        self.inner.keys.first().and_then(Cell::as_int).unwrap_or(0)
    }
}

#[Object]
impl FundingOutcome {
    /// The award's number; `null` when the outcome is a cell of awards.
    async fn award_number(&self) -> Option<&str> {
        self.inner.award_number.as_deref()
    }

    /// The award's (or the cell's) fiscal year, category, implementing agency and program.
    async fn key(&self) -> FundingKey {
        let k = &self.inner.keys;
        let text = |i: usize| k.get(i).and_then(Cell::as_text);
        FundingKey {
            fiscal_year: i32::try_from(self.fiscal_year()).ok(),
            category: text(1).and_then(FundingCategory::parse),
            implementing_agency: text(2).and_then(Agency::parse),
            program: text(3).map(str::to_owned),
        }
    }

    /// How many awards: 1 for an award, the cell's count for a cell of awards.
    async fn awards(&self) -> Option<i64> {
        self.inner.awards
    }

    /// The trainings the awards funded; `null` with FORBIDDEN when the role reads no training
    /// aggregates.
    async fn trainings(&self) -> async_graphql::Result<Option<OutcomeTrainings>> {
        part(&self.inner.trainings, |t| t.clone().into())
    }

    /// Traces recovered in the trained states before and after the award's fiscal year; `null`
    /// with FORBIDDEN when the role reads no trace or no training aggregates.
    async fn traces(&self) -> async_graphql::Result<Option<TraceWindow>> {
        part(&self.inner.traces, |w| {
            TraceWindow::new(*w, self.fiscal_year(), self.window)
        })
    }
}

#[derive(SimpleObject)]
pub(crate) struct FundingOutcomes {
    pub window: i64,
    /// One outcome per award the caller reads; false when each outcome is a cell of awards.
    pub by_award: bool,
    /// The awards' counts are protected by the cell key method.
    pub suppressed: bool,
    pub outcomes: Vec<FundingOutcome>,
}

#[derive(Default)]
pub(crate) struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// U.S. purchase state → Mexican recovery state flows of traced firearms by year, largest
    /// first: the `traceStats` cells by purchase state, recovery state and year.
    #[graphql(
        visible = "crate::graphql::visibility::query::trace_corridors",
        complexity = "stats_weight(analyses::CORRIDOR_DIMS.len(), child_complexity)"
    )]
    async fn trace_corridors(
        &self,
        ctx: &Context<'_>,
        year: Option<IntRange>,
        purchase_state: Option<Vec<String>>,
        recovery_state: Option<Vec<String>>,
        #[graphql(default = 0)] min_count: Option<i32>,
    ) -> async_graphql::Result<TraceCorridors> {
        let r = request(ctx)?;
        let cache = ctx.data_opt::<std::sync::Arc<store::canonical::StatsCache>>();
        let answer = analyses::corridors(
            &r.db,
            &r.access,
            cache.map(|c| &**c),
            analyses::CorridorQuery {
                year,
                purchase_state,
                recovery_state,
                min_count: i64::from(min_count.unwrap_or(0)),
            },
        )
        .await
        .gql()?;
        Ok(TraceCorridors {
            suppressed: answer.suppressed,
            corridors: answer
                .corridors
                .into_iter()
                .map(|c| TraceCorridor {
                    purchase_state: c.purchase_state,
                    recovery_state: c.recovery_state,
                    year: c.year,
                    count: c.count,
                    median_time_to_crime_days: c.median_time_to_crime_days,
                    suppressed: c.suppressed,
                })
                .collect(),
        })
    }

    /// Per Mexican state and fiscal year: the trainings held there (count, participants, eTrace
    /// accounts granted) against the traces recovered in the state in the `window` calendar years
    /// wholly before and wholly after the fiscal year.
    #[graphql(
        visible = "crate::graphql::visibility::query::training_outcomes",
        complexity = "stats_weight(4, child_complexity)"
    )]
    async fn training_outcomes(
        &self,
        ctx: &Context<'_>,
        fiscal_year: Option<IntRange>,
        mexican_state: Option<Vec<String>>,
        #[graphql(default = 1)] window: Option<i32>,
    ) -> async_graphql::Result<TrainingOutcomes> {
        let window = window.unwrap_or(1);
        let r = request(ctx)?;
        let cache = ctx.data_opt::<std::sync::Arc<store::canonical::StatsCache>>();
        let outcomes = analyses::training_outcomes(
            &r.db,
            &r.access,
            cache.map(|c| &**c),
            analyses::TrainingOutcomeQuery {
                fiscal_year,
                mexican_state,
                window,
            },
        )
        .await
        .gql()?;
        let window = i64::from(window);
        Ok(TrainingOutcomes {
            window,
            outcomes: outcomes
                .into_iter()
                .map(|inner| TrainingOutcome { inner, window })
                .collect(),
        })
    }

    /// Per funding award the caller reads (per cell of awards by fiscal year, category,
    /// implementing agency and program for a role reading only funding aggregates): the trainings
    /// it funded and the traces recovered in their states in the `window` calendar years wholly
    /// before and wholly after the award's fiscal year.
    #[graphql(
        visible = "crate::graphql::visibility::query::funding_outcomes",
        complexity = "stats_weight(8, child_complexity)"
    )]
    async fn funding_outcomes(
        &self,
        ctx: &Context<'_>,
        filter: Option<FundingFilter>,
        #[graphql(default = 1)] window: Option<i32>,
    ) -> async_graphql::Result<FundingOutcomes> {
        let window = window.unwrap_or(1);
        let r = request(ctx)?;
        let cache = ctx.data_opt::<std::sync::Arc<store::canonical::StatsCache>>();
        let answer = analyses::funding_outcomes(
            &r.db,
            &r.access,
            cache.map(|c| &**c),
            filter.as_ref(),
            window,
        )
        .await
        .gql()?;
        let window = i64::from(window);
        Ok(FundingOutcomes {
            window,
            by_award: answer.by_award,
            suppressed: answer.funding_suppressed,
            outcomes: answer
                .outcomes
                .into_iter()
                .map(|inner| FundingOutcome { inner, window })
                .collect(),
        })
    }
}
