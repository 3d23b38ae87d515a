//! Cross-agency analyses, composed from the grouped stats so that every input is read under the
//! caller's aggregate mode for its entity, and no answer is finer than the stricter of them:
//!
//! - **corridors**: U.S. purchase state → Mexican recovery state flows by year, which are the
//!   `traceStats` cells grouped by `PURCHASE_STATE`, `RECOVERY_STATE` and `YEAR` (the same
//!   canonical table, the same protected cells);
//! - **training outcomes**: per Mexican state and fiscal year, the `trainingStats` cell grouped by
//!   `MEXICAN_STATE` and `FISCAL_YEAR`, beside the traces recovered in that state before and after
//!   (sums of the `traceStats` cells grouped by `RECOVERY_STATE` and `YEAR`);
//! - **funding outcomes**: per award the caller reads (or, for a role whose rule reads only
//!   funding aggregates, per `fundingStats` cell of all four funding dimensions), the trainings it
//!   funded and the traces recovered in the states those trainings were held in, before and after
//!   the award's fiscal year. Per award, the trainings are the caller's training rows of the award
//!   (its `trainings` edge); per cell, they are protected cells of their own (trainings by funding
//!   cell, and by funding cell and state), not `trainingStats` cells: consistent for the same
//!   trainings, but perturbed independently of the `trainingStats` cells the same trainings count
//!   in.
//!
//! The window of a fiscal year `FY` (October `FY−1` to September `FY`) counts traces by their
//! recovery's calendar year (the trace `year`): *before* are the `window` calendar years that end
//! before the fiscal year begins (`FY−1−window` … `FY−2`), *after* the `window` calendar years
//! that begin after it ends (`FY+1` … `FY+window`). A trace part is a sum of published trace cells,
//! so it tells nothing those cells do not; a part the caller may not read at all is an error the
//! API answers as `null` with FORBIDDEN at its path.

use std::collections::{BTreeSet, HashMap};

use entity::{funding_award as award, trace, training_event as training};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::canonical::StatsCache;
use super::door::{Described, Owned};
use super::filters::{
    FundingDimension, FundingFilter, IntRange, TraceDimension, TraceFilter, TrainingDimension,
    TrainingFilter,
};
use super::stats::{self, Cell, DimKind, Grouped, GroupedQuery};
use crate::error::{Error, Result};
use crate::policy::suppression::{self, Bucket, Group};
use crate::policy::{Access, Aggregates, EntityKind, Rows};

/// The largest window of years before and after a fiscal year.
pub(crate) const MAX_WINDOW: i32 = 10;

/// The corridor dimensions, in the order of a corridor's keys.
pub(crate) const CORRIDOR_DIMS: [TraceDimension; 3] = [
    TraceDimension::PurchaseState,
    TraceDimension::RecoveryState,
    TraceDimension::Year,
];

/// One flow: traces of firearms first sold in `purchase_state`, recovered in `recovery_state` in
/// `year`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Corridor {
    pub purchase_state: String,
    pub recovery_state: String,
    pub year: i64,
    pub count: i64,
    pub median_time_to_crime_days: Option<i64>,
    pub suppressed: bool,
}

/// The corridors, largest first.
#[derive(Debug, Clone)]
pub(crate) struct Corridors {
    pub suppressed: bool,
    pub corridors: Vec<Corridor>,
}

/// What the caller asks of corridors: the years, purchase and recovery states, and the smallest
/// (published) count listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CorridorQuery {
    pub year: Option<IntRange>,
    pub purchase_state: Option<Vec<String>>,
    pub recovery_state: Option<Vec<String>>,
    pub min_count: i64,
}

/// The corridors: the `traceStats` cells by purchase state, recovery state and year (traces
/// without a known purchase state are no corridor), those of at least `min_count`, largest first.
pub(crate) async fn corridors<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    cache: Option<&StatsCache>,
    query: CorridorQuery,
) -> Result<Corridors> {
    if query.min_count < 0 {
        return Err(Error::invalid("minCount", "must be 0 or more"));
    }
    let filter = TraceFilter {
        year: query.year,
        purchase_state: query.purchase_state,
        recovery_state: query.recovery_state,
        ..Default::default()
    };
    let answer =
        stats::stats::<trace::Entity, C>(db, access, Some(&filter), &CORRIDOR_DIMS, cache).await?;
    let mut corridors: Vec<Corridor> = answer
        .buckets
        .into_iter()
        .filter_map(|b| {
            let count = b.count?;
            Some(Corridor {
                purchase_state: b.keys.first()?.as_text()?.to_owned(),
                recovery_state: b.keys.get(1)?.as_text()?.to_owned(),
                year: b.keys.get(2)?.as_int()?,
                count,
                median_time_to_crime_days: b.median,
                suppressed: b.suppressed,
            })
        })
        .filter(|c| c.count >= query.min_count)
        .collect();
    corridors.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.year.cmp(&b.year))
            .then_with(|| a.purchase_state.cmp(&b.purchase_state))
            .then_with(|| a.recovery_state.cmp(&b.recovery_state))
    });
    Ok(Corridors {
        suppressed: answer.suppressed,
        corridors,
    })
}

/// Traces recovered in some states in the window before and after a fiscal year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceWindow {
    /// `None` when the states trained in are not published (see [`funding_outcomes`]).
    pub before: Option<i64>,
    pub after: Option<i64>,
    /// The numbers are sums of protected cells (or over the published states of protected
    /// training cells), not exact.
    pub suppressed: bool,
}

impl TraceWindow {
    /// The window of trainings whose states are withheld: no numbers, marked protected.
    const WITHHELD: TraceWindow = TraceWindow {
        before: None,
        after: None,
        suppressed: true,
    };
}

/// A part of an answer: its value, or why the caller may not read it.
pub(crate) type Part<T> = std::result::Result<T, String>;

/// The published trace cells by recovery state and calendar year.
struct TraceVolumes {
    cells: HashMap<(String, i64), i64>,
    suppressed: bool,
}

impl TraceVolumes {
    /// The `traceStats` cells grouped by recovery state and year, as the caller reads them; the
    /// refusal's message when it reads no trace aggregates.
    async fn read<C: ConnectionTrait>(
        db: &C,
        access: &Access,
        cache: Option<&StatsCache>,
    ) -> Result<Part<TraceVolumes>> {
        let dims = [TraceDimension::RecoveryState, TraceDimension::Year];
        let answer = match stats::stats::<trace::Entity, C>(db, access, None, &dims, cache).await {
            Ok(answer) => answer,
            Err(Error::Forbidden(message)) => return Ok(Err(message)),
            Err(other) => return Err(other),
        };
        let cells = answer
            .buckets
            .iter()
            .filter_map(|b| {
                let state = b.keys.first()?.as_text()?.to_owned();
                let year = b.keys.get(1)?.as_int()?;
                Some(((state, year), b.count?))
            })
            .collect();
        Ok(Ok(TraceVolumes {
            cells,
            suppressed: answer.suppressed,
        }))
    }

    /// The traces recovered in `states` in the window of `fiscal_year` (see the module's words).
    fn window(&self, states: &[String], fiscal_year: i64, window: i64) -> TraceWindow {
        let sum = |years: std::ops::RangeInclusive<i64>| -> i64 {
            states
                .iter()
                .flat_map(|s| years.clone().map(move |y| (s.clone(), y)))
                .filter_map(|key| self.cells.get(&key))
                .sum()
        };
        TraceWindow {
            before: Some(sum(fiscal_year - 1 - window..=fiscal_year - 2)),
            after: Some(sum(fiscal_year + 1..=fiscal_year + window)),
            suppressed: self.suppressed,
        }
    }
}

fn check_window(window: i32) -> Result<()> {
    if !(1..=MAX_WINDOW).contains(&window) {
        return Err(Error::invalid(
            "window",
            format!("must be from 1 to {MAX_WINDOW} years"),
        ));
    }
    Ok(())
}

/// Trainings counted and summed for one answer's row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Trained {
    pub count: Option<i64>,
    pub participants: Option<i64>,
    pub etrace_accounts_granted: Option<i64>,
    /// The Mexican states the trainings were held in (federal agencies' trainings have none).
    pub mexican_states: Vec<String>,
    pub suppressed: bool,
}

impl Trained {
    fn from_bucket(bucket: Option<&Bucket>, states: Vec<String>, suppressed: bool) -> Trained {
        match bucket {
            Some(b) => Trained {
                count: b.count,
                participants: b.sums.first().copied().flatten(),
                etrace_accounts_granted: b.sums.get(1).copied().flatten(),
                mexican_states: states,
                suppressed: b.suppressed,
            },
            // No trainings, or a protected cell published as 0 (left out like an empty one).
            None => Trained {
                count: Some(0),
                participants: (!suppressed).then_some(0),
                etrace_accounts_granted: (!suppressed).then_some(0),
                mexican_states: states,
                suppressed,
            },
        }
    }
}

/// One Mexican state in one fiscal year.
#[derive(Debug, Clone)]
pub(crate) struct TrainingOutcome {
    pub mexican_state: String,
    pub fiscal_year: i64,
    pub trainings: Trained,
    pub traces: Part<TraceWindow>,
}

/// What the caller asks of training outcomes.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrainingOutcomeQuery {
    pub fiscal_year: Option<IntRange>,
    pub mexican_state: Option<Vec<String>>,
    pub window: i32,
}

/// Per Mexican state and fiscal year with trainings: the `trainingStats` cell of the state and
/// year, and the traces recovered in the state in the window before and after the year. Trainings
/// of federal agencies (no state) are left out. Ordered by state, then year.
pub(crate) async fn training_outcomes<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    cache: Option<&StatsCache>,
    query: TrainingOutcomeQuery,
) -> Result<Vec<TrainingOutcome>> {
    check_window(query.window)?;
    let filter = TrainingFilter {
        fiscal_year: query.fiscal_year,
        mexican_state: query.mexican_state,
        ..Default::default()
    };
    let dims = [
        TrainingDimension::MexicanState,
        TrainingDimension::FiscalYear,
    ];
    let answer =
        stats::stats::<training::Entity, C>(db, access, Some(&filter), &dims, cache).await?;
    let traces = TraceVolumes::read(db, access, cache).await?;
    let window = i64::from(query.window);
    let mut outcomes: Vec<TrainingOutcome> = answer
        .buckets
        .iter()
        .filter_map(|b| {
            let state = b.keys.first()?.as_text()?.to_owned();
            let fiscal_year = b.keys.get(1)?.as_int()?;
            let states = vec![state.clone()];
            Some(TrainingOutcome {
                traces: traces
                    .as_ref()
                    .map(|t| t.window(&states, fiscal_year, window))
                    .map_err(Clone::clone),
                trainings: Trained::from_bucket(Some(b), states, b.suppressed),
                mexican_state: state,
                fiscal_year,
            })
        })
        .collect();
    outcomes
        .sort_by(|a, b| (&a.mexican_state, a.fiscal_year).cmp(&(&b.mexican_state, b.fiscal_year)));
    Ok(outcomes)
}

/// One award (or, for a role reading only funding aggregates, one cell of awards).
#[derive(Debug, Clone)]
pub(crate) struct FundingOutcome {
    /// The award's number, when the caller reads the award's row.
    pub award_number: Option<String>,
    /// Fiscal year, category, implementing agency and program: the `fundingStats` dimensions.
    pub keys: Vec<Cell>,
    /// How many awards (1 for an award; the published count of a cell).
    pub awards: Option<i64>,
    pub trainings: Part<Trained>,
    pub traces: Part<TraceWindow>,
}

/// The funding outcomes: per award, or per cell of awards.
#[derive(Debug, Clone)]
pub(crate) struct FundingOutcomes {
    pub by_award: bool,
    pub funding_suppressed: bool,
    pub outcomes: Vec<FundingOutcome>,
}

/// The funding dimensions, in the order of a funding outcome's keys.
pub(crate) const FUNDING_DIMS: [FundingDimension; 4] = [
    FundingDimension::FiscalYear,
    FundingDimension::Category,
    FundingDimension::ImplementingAgency,
    FundingDimension::Program,
];

/// The stricter of two aggregate modes.
fn stricter(a: Aggregates, b: Aggregates) -> Aggregates {
    match (a, b) {
        (Aggregates::None, _) | (_, Aggregates::None) => Aggregates::None,
        (Aggregates::Suppressed, _) | (_, Aggregates::Suppressed) => Aggregates::Suppressed,
        _ => Aggregates::Exact,
    }
}

/// Per award the caller reads (its role's rule reads funding rows; grants do not change the
/// mode), ordered by fiscal year and award number, else per `fundingStats` cell of the four
/// funding dimensions (the rule reads only funding aggregates; FORBIDDEN when not even those),
/// ordered by those dimensions: the awards' trainings (count, participants, eTrace accounts, the
/// states they were held in) and the traces recovered in those states in the window of the
/// award's fiscal year.
///
/// The trainings of an award are the caller's training rows of it (purpose and grants included,
/// rows withheld for want of a purpose reported), under the caller's training aggregates; a role
/// reading no training rows gets them as protected cells. The trainings of a cell of awards
/// combine the funding and training inputs, so they are read under the stricter of the two modes.
/// Protected, they are cells of the cell key method: the same trainings always get the same
/// noise. The states of a protected answer are those whose cell (award or cell of awards, state)
/// is published, and never contradict its count (see [`funded`] and [`traced`]).
pub(crate) async fn funding_outcomes<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    cache: Option<&StatsCache>,
    filter: Option<&FundingFilter>,
    window: i32,
) -> Result<FundingOutcomes> {
    check_window(window)?;
    let funding = access.rule(EntityKind::FundingAward);
    let by_award = funding.rows != Rows::None;
    // The outcomes' keys (the award's id, or the cell's dimensions), with their rows.
    let (mut outcomes, keys, funding_suppressed, training_mode, condition) = if by_award {
        let mut condition = award::Entity::visible(access)?;
        if let Some(filter) = filter {
            condition = condition.add(award::Entity::condition(filter)?);
        }
        let mut awards = award::Entity::find()
            .filter(condition.clone())
            .all(db)
            .await?;
        access.touched(
            EntityKind::FundingAward,
            awards.iter().map(|a| a.owner_agency),
            awards.len(),
        );
        awards.sort_by(|a, b| {
            (a.fiscal_year, &a.award_number).cmp(&(b.fiscal_year, &b.award_number))
        });
        let mut outcomes = Vec::with_capacity(awards.len());
        let mut keys = Vec::with_capacity(awards.len());
        for a in awards {
            let a = award::Entity::mask(access, a);
            keys.push(vec![Cell::Int(a.id)]);
            outcomes.push(FundingOutcome {
                award_number: Some(a.award_number.clone()),
                keys: vec![
                    Cell::Int(i64::from(a.fiscal_year)),
                    Cell::Text(a.category.as_str().to_owned()),
                    a.implementing_agency
                        .map_or(Cell::Null, |g| Cell::Text(g.as_str().to_owned())),
                    Cell::Text(a.program.clone()),
                ],
                awards: Some(1),
                trainings: Err(String::new()),
                traces: Err(String::new()),
            });
        }
        // The trainings of an award are those the caller reads of it (as its `trainings` edge
        // gives them): its training rows, a stated purpose and grants included, and rows left out
        // for want of a purpose reported as the door reports them. A role reading no training rows
        // gets each award's trainings as protected cells.
        let training_aggregates = access.rule(EntityKind::Training).aggregates;
        let (mode, condition) = match training::Entity::visible(access) {
            Ok(scope) => (training_aggregates, condition.add(scope)),
            Err(_) => (
                stricter(training_aggregates, Aggregates::Suppressed),
                condition,
            ),
        };
        (outcomes, keys, false, mode, condition)
    } else {
        let answer =
            stats::stats::<award::Entity, C>(db, access, filter, &FUNDING_DIMS, cache).await?;
        let condition = match filter {
            Some(filter) => award::Entity::condition(filter)?,
            None => Condition::all(),
        };
        let mut outcomes = Vec::with_capacity(answer.buckets.len());
        let mut keys = Vec::with_capacity(answer.buckets.len());
        let mut buckets = answer.buckets;
        buckets.sort_by(|a, b| a.keys.cmp(&b.keys));
        for b in buckets {
            keys.push(b.keys.clone());
            outcomes.push(FundingOutcome {
                award_number: None,
                keys: b.keys,
                awards: b.count,
                trainings: Err(String::new()),
                traces: Err(String::new()),
            });
        }
        let mode = stricter(
            access.rule(EntityKind::Training).aggregates,
            funding.aggregates,
        );
        (outcomes, keys, answer.suppressed, mode, condition)
    };
    let trainings = funded_trainings(db, access, by_award, training_mode, condition).await?;
    let traces = TraceVolumes::read(db, access, cache).await?;
    let window = i64::from(window);
    for (outcome, key) in outcomes.iter_mut().zip(&keys) {
        outcome.trainings = match &trainings {
            Ok((cells, states, suppressed)) => {
                Ok(funded(cells.get(key), states.get(key), *suppressed))
            }
            Err(message) => Err(message.clone()),
        };
        let fiscal_year = outcome.keys.first().and_then(Cell::as_int).unwrap_or(0);
        outcome.traces = match (&traces, &outcome.trainings) {
            (Err(message), _) => Err(message.clone()),
            (Ok(t), Ok(trained)) => Ok(traced(t, trained, fiscal_year, window)),
            // Without the states trained in, there is nothing to count the traces of.
            (Ok(_), Err(message)) => Err(message.clone()),
        };
    }
    Ok(FundingOutcomes {
        by_award,
        funding_suppressed,
        outcomes,
    })
}

/// The trainings of one outcome as published, from its training cell (`None` when there is none
/// or it was left out) and the states of its published (key, state) cells. A protected count of 0
/// lists no state: the states would contradict it.
fn funded(bucket: Option<&Bucket>, states: Option<&Vec<String>>, suppressed: bool) -> Trained {
    let mut trained = Trained::from_bucket(bucket, Vec::new(), suppressed);
    if !(trained.suppressed && trained.count.unwrap_or(0) == 0) {
        trained.mexican_states = states.cloned().unwrap_or_default();
    }
    trained
}

/// The traces recovered in the states of an outcome's trainings in the window of `fiscal_year`.
/// Protected trainings with no published state have no trace counts (`None`, marked protected):
/// their traces are not known, and 0 would read as a true zero. Over the published states of
/// protected trainings the sums are marked protected too, as they leave out the states not
/// published.
fn traced(volumes: &TraceVolumes, trained: &Trained, fiscal_year: i64, window: i64) -> TraceWindow {
    if trained.suppressed && trained.mexican_states.is_empty() {
        return TraceWindow::WITHHELD;
    }
    let mut w = volumes.window(&trained.mexican_states, fiscal_year, window);
    w.suppressed |= trained.suppressed;
    w
}

/// The published training cells per outcome key, and the states of each key's published
/// (key, state) cells.
type FundedCells = (
    HashMap<Vec<Cell>, Bucket>,
    HashMap<Vec<Cell>, Vec<String>>,
    bool,
);

/// The trainings funded by the awards matching `condition` (on the award's columns), grouped by
/// the award (`by_award`) or by its four funding dimensions, and by Mexican state; answered
/// exact or protected as `mode` says.
async fn funded_trainings<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    by_award: bool,
    mode: Aggregates,
    condition: Condition,
) -> Result<Part<FundedCells>> {
    if mode == Aggregates::None {
        return Ok(Err(format!(
            "role {} may not read {} aggregates",
            access.role(),
            EntityKind::Training
        )));
    }
    let mut query = GroupedQuery::new(training::Entity, condition);
    query.select.inner_join(
        award::Entity,
        Expr::col((training::Entity, training::Column::FundingAwardId))
            .equals((award::Entity, award::Column::Id)),
    );
    let mut dims = if by_award {
        vec![(
            Expr::col((training::Entity, training::Column::FundingAwardId)),
            DimKind::Int,
        )]
    } else {
        FUNDING_DIMS
            .iter()
            .map(|d| <award::Entity as Grouped>::dimension(*d))
            .collect()
    };
    dims.push((
        Expr::col((training::Entity, training::Column::MexicanState)),
        DimKind::Text,
    ));
    query.dims = dims;
    query.sums = <training::Entity as Grouped>::sums();
    query.record_key = Some(Expr::col((training::Entity, Alias::new("record_key"))));
    let by_state = query.groups(db).await?;
    // Each key's trainings: the union of its (key, state) cells, so counts, sums and key sums add.
    let mut rolled: Vec<Group> = Vec::new();
    let mut index: HashMap<Vec<Cell>, usize> = HashMap::new();
    for g in &by_state {
        let key = g.keys[..g.keys.len() - 1].to_vec();
        let i = *index.entry(key.clone()).or_insert_with(|| {
            rolled.push(Group {
                keys: key,
                count: 0,
                sums: vec![0; g.sums.len()],
                key_sum: 0,
            });
            rolled.len() - 1
        });
        let r = &mut rolled[i];
        r.count += g.count;
        r.key_sum += g.key_sum;
        for (t, s) in r.sums.iter_mut().zip(&g.sums) {
            *t += s;
        }
    }
    let answer = |groups: Vec<Group>| {
        let floors = <training::Entity as Grouped>::sum_floors();
        match mode {
            Aggregates::Suppressed => {
                let total = Group {
                    keys: Vec::new(),
                    count: groups.iter().map(|g| g.count).sum(),
                    sums: Vec::new(),
                    key_sum: groups.iter().map(|g| g.key_sum).sum(),
                };
                suppression::protected(&access.ptable(), groups, &total, |_| None, &floors)
            }
            _ => suppression::exact(groups, |_| None, floors.len()),
        }
    };
    let per_key = answer(rolled);
    let per_state = answer(by_state);
    access.touched(
        EntityKind::Training,
        EntityKind::Training.possible_owners().iter().copied(),
        per_key.buckets.len(),
    );
    let mut states: HashMap<Vec<Cell>, BTreeSet<String>> = HashMap::new();
    for b in &per_state.buckets {
        if let Some((Cell::Text(state), key)) = b.keys.split_last() {
            states
                .entry(key.to_vec())
                .or_default()
                .insert(state.clone());
        }
    }
    let suppressed = per_key.suppressed;
    let cells = per_key
        .buckets
        .into_iter()
        .map(|b| (b.keys.clone(), b))
        .collect();
    let states = states
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    Ok(Ok((cells, states, suppressed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_whole_calendar_years_outside_the_fiscal_year() {
        let cells = [
            (2018, 1),
            (2019, 10),
            (2020, 100),
            (2021, 1000),
            (2022, 10_000),
        ]
        .into_iter()
        .map(|(y, n)| (("MX-SON".to_owned(), y), n))
        .collect();
        let volumes = TraceVolumes {
            cells,
            suppressed: false,
        };
        let states = ["MX-SON".to_owned()];
        // FY2020 runs from October 2019 to September 2020: before is 2018, after 2021.
        let w = volumes.window(&states, 2020, 1);
        assert_eq!((w.before, w.after), (Some(1), Some(1000)));
        let w = volumes.window(&states, 2020, 2);
        assert_eq!((w.before, w.after), (Some(1), Some(11_000)));
        let w = volumes.window(&["MX-CHH".to_owned()], 2020, 2);
        assert_eq!((w.before, w.after), (Some(0), Some(0)));
    }

    #[test]
    fn a_funding_outcome_of_protected_trainings_never_contradicts_itself() {
        let volumes = TraceVolumes {
            cells: [(("MX-SON".to_owned(), 2021), 40)].into_iter().collect(),
            suppressed: false,
        };
        let bucket = |count: i64, suppressed: bool| Bucket {
            keys: Vec::new(),
            count: Some(count),
            sums: vec![Some(count * 20), Some(count * 8)],
            median: None,
            suppressed,
        };
        let states = vec!["MX-SON".to_owned()];
        // A protected cell left out (published as 0) whose (cell, state) cell was published: no
        // state, and no trace counts.
        let t = funded(None, Some(&states), true);
        assert_eq!((t.count, t.participants), (Some(0), None));
        assert!(t.mexican_states.is_empty() && t.suppressed);
        assert_eq!(traced(&volumes, &t, 2020, 1), TraceWindow::WITHHELD);
        // Published trainings with every (cell, state) cell dropped: no trace counts, not 0/0.
        let t = funded(Some(&bucket(7, true)), None, true);
        assert_eq!((t.count, t.mexican_states.len()), (Some(7), 0));
        assert_eq!(traced(&volumes, &t, 2020, 1), TraceWindow::WITHHELD);
        // Published with a published state: its traces, marked protected though the trace cells
        // are exact, as states not published are left out.
        let t = funded(Some(&bucket(7, true)), Some(&states), true);
        assert_eq!(t.mexican_states, states);
        let w = traced(&volumes, &t, 2020, 1);
        assert_eq!((w.before, w.after, w.suppressed), (Some(0), Some(40), true));
        // Exact trainings: a true zero is a zero, and exact traces stay exact.
        let t = funded(None, None, false);
        assert_eq!((t.count, t.participants), (Some(0), Some(0)));
        let w = traced(&volumes, &t, 2020, 1);
        assert_eq!((w.before, w.after, w.suppressed), (Some(0), Some(0), false));
        let t = funded(Some(&bucket(1, false)), Some(&states), false);
        let w = traced(&volumes, &t, 2020, 1);
        assert_eq!((w.after, w.suppressed), (Some(40), false));
    }

    #[test]
    fn the_stricter_mode_wins() {
        use Aggregates::*;
        assert_eq!(stricter(Exact, Exact), Exact);
        assert_eq!(stricter(Exact, Suppressed), Suppressed);
        assert_eq!(stricter(Suppressed, Exact), Suppressed);
        assert_eq!(stricter(None, Exact), None);
        assert_eq!(stricter(Suppressed, None), None);
    }
}
