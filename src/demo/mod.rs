//! The calibrated demo dataset: synthetic records whose totals reproduce the published figures on
//! gun smuggling into Mexico (see [`calibration`]).
//!
//! Generation is deterministic: one `ChaCha8Rng` seeded from the seed drives every choice, ids are
//! assigned explicitly, and the provenance timestamp is derived from the seed. Counts that the
//! publications state are produced by quota (largest-remainder allocation of exact counts per
//! period, year and category, then shuffled), never by hoping that sampling lands near them.
//! Traces are generated one calendar year at a time and written in batches, so memory stays flat
//! at any scale.
//!
//! Scale multiplies the trace and seizure volumes. Funding awards, training events, eTrace access
//! dates and performance measures describe programmes rather than volumes and stay fixed.

pub(crate) mod calibration;
mod catalog;
mod programs;
mod seizures;
mod traces;

use std::fmt;
use std::io::IsTerminal;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::DatabaseConnection;

use crate::store;

/// The seed `demo-data` and `serve --demo` use unless told otherwise.
pub const DEFAULT_SEED: u64 = 20_210_322;

/// The `source_system` of every generated record.
pub(crate) const SOURCE_SYSTEM: &str = "demo";

/// Largest accepted scale.
pub(crate) const MAX_SCALE: f64 = 1_000.0;

/// Traces (with their firearms) written per transaction.
const TRACE_BATCH: usize = 5_000;

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub seed: u64,
    pub scale: f64,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            seed: DEFAULT_SEED,
            scale: 1.0,
            progress: true,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct DemoSummary {
    pub seed: u64,
    pub scale: f64,
    pub traces: u64,
    /// Firearm rows: one per trace plus those only seized.
    pub firearms: u64,
    pub seizures: u64,
    pub seized_firearms: u64,
    /// Seized firearms traced again under a near-identical serial (one edit apart).
    pub near_serials: u64,
    pub funding_awards: u64,
    pub training_events: u64,
    pub performance_measures: u64,
    /// Agencies given an eTrace access date.
    pub etrace_agencies: u64,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "demo data (seed {}, scale {}): {} traces, {} firearms, {} seizures of {} firearms, \
             {} funding awards, {} training events, {} performance measures, \
             {} agencies with eTrace access, {} seized firearms traced under a near-identical serial",
            self.seed,
            self.scale,
            self.traces,
            self.firearms,
            self.seizures,
            self.seized_firearms,
            self.funding_awards,
            self.training_events,
            self.performance_measures,
            self.etrace_agencies,
            self.near_serials
        )
    }
}

/// Whether the database holds no traces, seizures, trainings or funding awards yet.
pub async fn is_empty(db: &DatabaseConnection) -> anyhow::Result<bool> {
    store::demo::holds_no_owned_records(db).await
}

/// Generates the demo dataset into an empty database.
pub async fn generate(
    db: &DatabaseConnection,
    options: &DemoOptions,
) -> anyhow::Result<DemoSummary> {
    if !options.scale.is_finite() || options.scale <= 0.0 || options.scale > MAX_SCALE {
        anyhow::bail!(
            "the scale must be a number above 0 and at most {MAX_SCALE}, not {}",
            options.scale
        );
    }
    if !is_empty(db).await? {
        anyhow::bail!(
            "the database already holds traces, seizures, training events or funding awards; \
             demo data is only generated into an empty database"
        );
    }
    let mut ctx = Gen::new(options)?;
    let ids = store::demo::max_ids(db).await?;
    let mut summary = DemoSummary {
        seed: options.seed,
        scale: options.scale,
        ..DemoSummary::default()
    };

    let plan = traces::plan(options.scale)?;
    let progress = progress_bar(options.progress, plan.total_traces());
    let traced = traces::generate(db, &mut ctx, &plan, ids, &progress).await?;
    summary.traces = traced.traces;
    summary.firearms = traced.traces;

    progress.set_message("seizures");
    let seized = seizures::generate(db, &mut ctx, &traced, ids).await?;
    summary.seizures = seized.seizures;
    summary.seized_firearms = seized.firearm_links;
    summary.near_serials = seized.near_serials;
    summary.firearms += seized.new_firearms;

    progress.set_message("funding, training, agencies, measures");
    let programs = programs::generate(db, &mut ctx, ids).await?;
    summary.funding_awards = programs.funding_awards;
    summary.training_events = programs.training_events;
    summary.performance_measures = programs.performance_measures;
    summary.etrace_agencies = programs.etrace_agencies;

    progress.set_message("linking firearm records");
    store::demo::sync_id_sequences(db).await?;
    store::demo::link_firearms(db).await?;
    progress.set_message("refreshing the planner's statistics");
    store::planner::refresh_statistics(db)
        .await
        .context("cannot refresh the planner's statistics")?;
    progress.finish_and_clear();
    Ok(summary)
}

/// What every generator shares: the random source, the scale and the provenance timestamp.
pub(crate) struct Gen {
    pub rng: ChaCha8Rng,
    /// The seed, for generators that draw from a source of their own (so that adding them changes
    /// nothing the main source draws).
    pub seed: u64,
    pub scale: f64,
    pub ingested_at: DateTime<Utc>,
}

impl Gen {
    fn new(options: &DemoOptions) -> anyhow::Result<Self> {
        // 2025-10-01T00:00:00Z plus up to a day, from the seed: fixed for a seed, never the clock.
        let seconds = 1_759_276_800 + i64::try_from(options.seed % 86_400).unwrap_or(0);
        let ingested_at = DateTime::from_timestamp(seconds, 0)
            .context("the provenance timestamp is out of range")?;
        Ok(Self {
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            seed: options.seed,
            scale: options.scale,
            ingested_at,
        })
    }

    /// An index drawn with the given relative weights.
    pub(crate) fn pick_weighted<T>(&mut self, items: &[T], weight: impl Fn(&T) -> u32) -> usize {
        pick_weighted(&mut self.rng, items, weight)
    }

    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.random_range(0..1000) < per_mille
    }
}

/// A published count multiplied by the scale, rounded.
pub(crate) fn scaled(count: u64, scale: f64) -> u64 {
    // Counts are far below 2^52 and the scale is at most MAX_SCALE, so the float is exact enough.
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a non-negative product well inside u64"
    )]
    let value = (count as f64 * scale).round() as u64;
    value
}

/// An index drawn with the given relative weights (the last item when all weights are zero).
pub(crate) fn pick_weighted<T>(
    rng: &mut ChaCha8Rng,
    items: &[T],
    weight: impl Fn(&T) -> u32,
) -> usize {
    let total: u64 = items.iter().map(|i| u64::from(weight(i))).sum();
    if total == 0 {
        return items.len().saturating_sub(1);
    }
    let mut draw = rng.random_range(0..total);
    for (index, item) in items.iter().enumerate() {
        let w = u64::from(weight(item));
        if draw < w {
            return index;
        }
        draw -= w;
    }
    items.len().saturating_sub(1)
}

/// Largest-remainder allocation: splits `total` into parts proportional to `weights` that sum to
/// `total` exactly. Ties go to the earlier weight. With weights summing to `total`, every part
/// equals its weight. All-zero weights give all-zero parts.
pub(crate) fn allocate(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    let mut given: u64 = 0;
    for (index, &weight) in weights.iter().enumerate() {
        let product = u128::from(total) * u128::from(weight);
        let part = u64::try_from(product / sum).unwrap_or(u64::MAX);
        given += part;
        parts.push(part);
        remainders.push((product % sum, index));
    }
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let left = total.saturating_sub(given);
    for &(_, index) in remainders
        .iter()
        .take(usize::try_from(left).unwrap_or(usize::MAX))
    {
        parts[index] += 1;
    }
    parts
}

/// Splits a table of category counts over groups of fixed sizes so that both margins hold exactly:
/// each group's counts sum to its size, and each category's counts sum to its total. Returns one
/// row of category counts per group.
pub(crate) fn split_margins(categories: &[u64], groups: &[u64]) -> anyhow::Result<Vec<Vec<u64>>> {
    let category_total: u64 = categories.iter().sum();
    let group_total: u64 = groups.iter().sum();
    anyhow::ensure!(
        category_total == group_total,
        "internal: categories total {category_total} but groups total {group_total}"
    );
    let mut remaining = categories.to_vec();
    let mut left = category_total;
    let mut rows = Vec::with_capacity(groups.len());
    for &size in groups {
        // Each part is at most ceil(remaining * size / left) <= remaining, so nothing goes negative.
        let row = allocate(size, &remaining);
        for (r, taken) in remaining.iter_mut().zip(&row) {
            *r -= taken;
        }
        left -= size;
        rows.push(row);
    }
    debug_assert_eq!(left, 0);
    Ok(rows)
}

fn progress_bar(wanted: bool, length: u64) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {msg:<40} [{bar:30}] {pos}/{len} traces ({eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_is_exact_and_proportional() {
        assert_eq!(allocate(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(allocate(634, &[634, 0]), vec![634, 0]);
        assert_eq!(allocate(0, &[3, 4]), vec![0, 0]);
        assert_eq!(allocate(5, &[0, 0]), vec![0, 0]);
        let parts = allocate(1_000_003, &[467, 139, 315, 57, 22]);
        assert_eq!(parts.iter().sum::<u64>(), 1_000_003);
    }

    #[test]
    fn splitting_keeps_both_margins() {
        let rows = split_margins(&[7, 5, 0, 9], &[10, 6, 5]).expect("totals agree");
        assert_eq!(
            rows.iter()
                .map(|r| r.iter().sum::<u64>())
                .collect::<Vec<_>>(),
            vec![10, 6, 5]
        );
        for c in 0..4 {
            assert_eq!(rows.iter().map(|r| r[c]).sum::<u64>(), [7, 5, 0, 9][c]);
        }
        assert!(split_margins(&[1], &[2]).is_err());
    }
}
