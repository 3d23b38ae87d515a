//! Disclosure control for aggregate-only access: the cell key method (as in ABS TableBuilder, the
//! ONS 2021 Census tables and Cantabular).
//!
//! - Every counted record carries a random `record_key`, drawn once when it is stored (see the
//!   `record_keys` migration) and never shown. A cell's *key sum* is the sum of its records' keys,
//!   computed in the grouped SQL; its *cell key* is that sum modulo the key range. The same set of
//!   records always has the same cell key, whichever answer the cell appears in, so the same cell
//!   always gets the same noise: asking again, or in another table, averages nothing away.
//! - A count `n` becomes `n + v`, where `v` is read from the *perturbation table* ([`PTable`]) at
//!   row `n`, column cell key. Each row is a distribution over changes `-D..=D` with zero mean and
//!   (where the row's constraints allow) a fixed variance, chosen by maximum entropy, under which
//!   `n + v` is never below zero and never `1..js-1` (`js` the policy's `suppression_threshold`):
//!   a published count is 0 or at least `js`, and no small count is ever shown exactly.
//! - A cell perturbed to 0 is not listed, exactly like an empty combination: only combinations with
//!   records are candidates, and those counting `1..=D` may vanish.
//! - An answer's `total` is a cell of its own (the union of the answer's records), perturbed from
//!   its own cell key, not the sum of the perturbed buckets; tables are not exactly additive.
//! - A sum of magnitudes `S` (firearms, rounds, participants, money) gets zero-mean noise drawn
//!   from its cell's key sum: `S + u·max(m·S, f)`, `u` uniform in [-1, 1], `m` the policy's relative
//!   sum noise and `f` the metric's floor, so no sum, however small or zero, is shown exactly.
//! - A median is withheld when taken over fewer than `js` values and otherwise rounded to the
//!   policy's `median_rounding`.
//!
//! What it does not do: noise is bounded by `D`, so a published count tells the true count within
//! `±D`; a listed combination has at least one record; and aggregating many cells gives totals
//! that are close to the truth (the point of publishing them). See the README for the guarantees.

use serde::Deserialize;

/// The perturbation parameters of the policy file (`[perturbation]`), with their defaults.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerturbationSettings {
    /// `D`: the largest absolute change to a count.
    pub max_change: i64,
    /// The variance of the change to a count (rows of small counts have the variance their
    /// constraints allow, as close to this as they can).
    pub variance: f64,
    /// The range of cell keys: a power of two from 16 to 2^32.
    pub key_range: u64,
    /// `m`: the relative noise of a sum of magnitudes, below 1.
    pub sum_noise: f64,
    /// Medians are rounded to a multiple of this.
    pub median_rounding: i64,
}

impl Default for PerturbationSettings {
    fn default() -> Self {
        PerturbationSettings {
            max_change: 5,
            variance: 4.0,
            key_range: 4096,
            sum_noise: 0.1,
            median_rounding: 10,
        }
    }
}

/// The largest key range: record keys are drawn from [0, 2^32), so any power of two up to it
/// divides their range and `sum mod range` stays uniform.
const MAX_KEY_RANGE: u64 = 1 << 32;

impl PerturbationSettings {
    /// Checks the settings against the threshold, naming what is wrong.
    pub(crate) fn validate(&self, threshold: i64) -> anyhow::Result<()> {
        let d = self.max_change;
        anyhow::ensure!(
            (1..=100).contains(&d),
            "invalid policy: perturbation.max_change must be from 1 to 100, not {d}"
        );
        anyhow::ensure!(
            d >= threshold,
            "invalid policy: perturbation.max_change ({d}) must be at least suppression_threshold ({threshold}), so that every count can be perturbed with zero mean without showing 1 to {}",
            threshold - 1
        );
        let v = self.variance;
        anyhow::ensure!(
            v.is_finite() && v > 0.0 && v < (d * d) as f64,
            "invalid policy: perturbation.variance must be above 0 and below max_change squared ({}), not {v}",
            d * d
        );
        let r = self.key_range;
        anyhow::ensure!(
            r.is_power_of_two() && (16..=MAX_KEY_RANGE).contains(&r),
            "invalid policy: perturbation.key_range must be a power of two from 16 to 4294967296, not {r}"
        );
        let m = self.sum_noise;
        anyhow::ensure!(
            m.is_finite() && m > 0.0 && m < 1.0,
            "invalid policy: perturbation.sum_noise must be above 0 and below 1, not {m}"
        );
        anyhow::ensure!(
            self.median_rounding >= 1,
            "invalid policy: perturbation.median_rounding must be at least 1, not {}",
            self.median_rounding
        );
        Ok(())
    }
}

/// One row of the perturbation table: the changes a count may get and how many of the key range's
/// cell keys give each, in order (cumulative upper bounds).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PRow {
    /// `(change, cell keys below which this change applies)`, ascending.
    pub cells: Vec<(i64, u64)>,
}

impl PRow {
    fn change(&self, key: u64) -> i64 {
        self.cells
            .iter()
            .find(|(_, upper)| key < *upper)
            .or(self.cells.last())
            .map_or(0, |(v, _)| *v)
    }

    /// The probability of each change, as the share of cell keys that give it.
    #[cfg(test)]
    pub(crate) fn probabilities(&self, range: u64) -> Vec<(i64, f64)> {
        let mut lower = 0;
        self.cells
            .iter()
            .map(|(v, upper)| {
                let p = (*upper - lower) as f64 / range as f64;
                lower = *upper;
                (*v, p)
            })
            .filter(|(_, p)| *p > 0.0)
            .collect()
    }
}

/// The perturbation table and the settings it was built from: rows for true counts `1..=js+D`,
/// the last row serving every larger count.
#[derive(Debug, Clone, PartialEq)]
pub struct PTable {
    pub(crate) settings: PerturbationSettings,
    pub(crate) threshold: i64,
    pub(crate) rows: Vec<PRow>,
}

impl PTable {
    /// Builds the table by maximum entropy: for each true count, `p(v) ∝ exp(a·v + b·v²)` over the
    /// allowed changes, `a` solved for zero mean and `b` for the target variance.
    pub(crate) fn new(settings: &PerturbationSettings, threshold: i64) -> PTable {
        let d = settings.max_change;
        let last = threshold.max(1) + d;
        let rows = (1..=last)
            .map(|n| {
                let support: Vec<i64> = (-d..=d)
                    .filter(|v| {
                        let out = n + v;
                        out == 0 || (out > 0 && out >= threshold)
                    })
                    .collect();
                let p = max_entropy(&support, settings.variance);
                PRow {
                    cells: quantize(&support, &p, settings.key_range),
                }
            })
            .collect();
        PTable {
            settings: settings.clone(),
            threshold,
            rows,
        }
    }

    /// The row of true count `n` (at least 1).
    pub(crate) fn row(&self, n: i64) -> &PRow {
        let i = (n.max(1) as usize - 1).min(self.rows.len() - 1);
        &self.rows[i]
    }

    /// The cell key of a cell whose records' keys sum to `key_sum`.
    pub(crate) fn cell_key(&self, key_sum: i64) -> u64 {
        key_sum.rem_euclid(self.settings.key_range as i64) as u64
    }

    /// The published count of a cell of `n` records whose keys sum to `key_sum`.
    pub(crate) fn count(&self, n: i64, key_sum: i64) -> i64 {
        if n <= 0 {
            return 0;
        }
        n + self.row(n).change(self.cell_key(key_sum))
    }

    /// The published sum `s` of metric `metric` (with noise floor `floor`) of the cell whose
    /// records' keys sum to `key_sum`: `s + u·max(m·|s|, floor)`, `u` in [-1, 1] drawn from the
    /// key sum and the metric, truncated to an integer and never below zero.
    pub(crate) fn sum(&self, s: i64, key_sum: i64, metric: usize, floor: i64) -> i64 {
        let u = uniform(key_sum, metric);
        let scale = (self.settings.sum_noise * s.abs() as f64).max(floor as f64);
        // Truncated towards the true sum, so the change never exceeds `scale`.
        (s + (u * scale).trunc() as i64).max(0)
    }

    /// The largest change a published sum `s` can have from its true value, for a metric with
    /// noise floor `floor`: the bound an attacker works with.
    pub fn sum_bounds(&self, published: i64, floor: i64) -> (f64, f64) {
        let m = self.settings.sum_noise;
        let p = published as f64;
        let f = floor as f64;
        (
            (p - f).min(p / (1.0 + m)).max(0.0),
            (p + f).max(p / (1.0 - m)),
        )
    }

    /// A median as published: withheld over fewer than the threshold values, and whenever the
    /// cell's published count is under `js + D` (decided on the published count, so whether a
    /// median shows never tells a small true count from a large one), else rounded to a multiple
    /// of `median_rounding` (half up).
    pub(crate) fn median(&self, value: i64, over: i64, published: i64) -> Option<i64> {
        if over < self.threshold || published < self.threshold + self.settings.max_change {
            return None;
        }
        let r = self.settings.median_rounding;
        Some((value + r / 2).div_euclid(r) * r)
    }
}

/// A number uniform in [-1, 1) drawn from a cell's key sum and a metric (splitmix64).
fn uniform(key_sum: i64, metric: usize) -> f64 {
    let mut z = (key_sum as u64)
        .wrapping_add((metric as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// `p(v) ∝ exp(a·v + b·v²)` over `support` with mean 0 and variance as close to `variance` as the
/// support allows.
fn max_entropy(support: &[i64], variance: f64) -> Vec<f64> {
    let dist = |a: f64, b: f64| -> Vec<f64> {
        let w: Vec<f64> = support
            .iter()
            .map(|v| a * *v as f64 + b * (*v * *v) as f64)
            .collect();
        let top = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = w.iter().map(|x| (x - top).exp()).collect();
        let total: f64 = e.iter().sum();
        e.into_iter().map(|x| x / total).collect()
    };
    let moment = |p: &[f64], k: i32| -> f64 {
        support
            .iter()
            .zip(p)
            .map(|(v, p)| (*v as f64).powi(k) * p)
            .sum()
    };
    // b is searched in [-8, 8]; a must be able to outweigh b·v² across the support.
    let d = support.iter().map(|v| v.abs()).max().unwrap_or(1) as f64;
    let reach = 50.0 + 16.0 * d * d;
    // For a given b, the a giving mean 0 (the mean increases with a).
    let centred = |b: f64| -> Vec<f64> {
        let (mut lo, mut hi) = (-reach, reach);
        for _ in 0..64 {
            let mid = (lo + hi) / 2.0;
            if moment(&dist(mid, b), 1) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        dist((lo + hi) / 2.0, b)
    };
    // The variance of the centred distribution increases with b.
    let (mut lo, mut hi) = (-8.0, 8.0);
    for _ in 0..64 {
        let mid = (lo + hi) / 2.0;
        if moment(&centred(mid), 2) < variance {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    centred((lo + hi) / 2.0)
}

/// Shares of `range` cell keys for each change: rounded, adding up to `range`, then moved between
/// neighbouring changes while that brings the mean closer to zero. Changes outside the support
/// never get a key.
fn quantize(support: &[i64], p: &[f64], range: u64) -> Vec<(i64, u64)> {
    let mut counts: Vec<i64> = p
        .iter()
        .map(|p| (p * range as f64).round() as i64)
        .collect();
    let largest = (0..counts.len()).max_by_key(|i| counts[*i]).unwrap_or(0);
    counts[largest] += range as i64 - counts.iter().sum::<i64>();
    let mean = |counts: &[i64]| -> i64 { support.iter().zip(counts).map(|(v, c)| v * c).sum() };
    for _ in 0..(range as usize) {
        let now = mean(&counts).abs();
        if now == 0 {
            break;
        }
        let mut best: Option<(usize, usize, i64)> = None;
        for i in 0..counts.len() {
            for j in 0..counts.len() {
                if i == j || counts[i] == 0 {
                    continue;
                }
                let after = (mean(&counts) + support[j] - support[i]).abs();
                if after < now && best.is_none_or(|(_, _, b)| after < b) {
                    best = Some((i, j, after));
                }
            }
        }
        match best {
            Some((i, j, _)) => {
                counts[i] -= 1;
                counts[j] += 1;
            }
            None => break,
        }
    }
    let mut upper = 0u64;
    support
        .iter()
        .zip(counts)
        .map(|(v, c)| {
            upper += c as u64;
            (*v, upper)
        })
        .collect()
}

/// One key cell of a group; cells order `Null` first, then integers, then texts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Cell {
    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub(crate) fn as_text(&self) -> Option<&str> {
        match self {
            Cell::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// One group: its key cells, its row count, its sums and the sum of its records' keys.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub keys: Vec<Cell>,
    pub count: i64,
    pub sums: Vec<i64>,
    pub key_sum: i64,
}

/// A group as answered: counts and sums are `None` when withheld.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    pub keys: Vec<Cell>,
    pub count: Option<i64>,
    pub sums: Vec<Option<i64>>,
    pub median: Option<i64>,
    /// The numbers are protected (perturbed, the median rounded or withheld), not exact.
    pub suppressed: bool,
}

/// A grouped answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub total: Option<i64>,
    pub total_sums: Vec<Option<i64>>,
    /// The numbers are protected, not exact.
    pub suppressed: bool,
    pub buckets: Vec<Bucket>,
}

/// A group's median and how many values it was taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Median {
    pub value: i64,
    pub over: i64,
}

/// The exact answer, for roles with exact aggregates.
pub(crate) fn exact(
    groups: Vec<Group>,
    medians: impl Fn(&[Cell]) -> Option<Median>,
    sums: usize,
) -> Answer {
    let total = groups.iter().map(|g| g.count).sum();
    let mut total_sums = vec![0i64; sums];
    for g in &groups {
        for (t, s) in total_sums.iter_mut().zip(&g.sums) {
            *t += s;
        }
    }
    let buckets = groups
        .into_iter()
        .map(|g| Bucket {
            median: medians(&g.keys).map(|m| m.value),
            count: Some(g.count),
            sums: g.sums.into_iter().map(Some).collect(),
            keys: g.keys,
            suppressed: false,
        })
        .collect();
    Answer {
        total: Some(total),
        total_sums: total_sums.into_iter().map(Some).collect(),
        suppressed: false,
        buckets,
    }
}

/// The protected answer over `groups`, with `total` the answer's records as one cell of its own,
/// `floors` the noise floor of each summed metric: every count perturbed by the table, cells
/// perturbed to 0 left out, sums noised and medians withheld or rounded.
pub(crate) fn protected(
    table: &PTable,
    groups: Vec<Group>,
    total: &Group,
    medians: impl Fn(&[Cell]) -> Option<Median>,
    floors: &[i64],
) -> Answer {
    let sums = |g: &Group, count: i64| -> Vec<Option<i64>> {
        g.sums
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (count > 0)
                    .then(|| table.sum(*s, g.key_sum, i, floors.get(i).copied().unwrap_or(1)))
            })
            .collect()
    };
    let buckets = groups
        .iter()
        .filter_map(|g| {
            let count = table.count(g.count, g.key_sum);
            (count > 0).then(|| Bucket {
                keys: g.keys.clone(),
                count: Some(count),
                sums: sums(g, count),
                median: medians(&g.keys).and_then(|m| table.median(m.value, m.over, count)),
                suppressed: true,
            })
        })
        .collect();
    let count = table.count(total.count, total.key_sum);
    Answer {
        total: Some(count),
        total_sums: sums(total, count),
        suppressed: true,
        buckets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PTable {
        PTable::new(&PerturbationSettings::default(), 5)
    }

    #[test]
    fn every_row_has_zero_mean_bounded_changes_and_never_shows_one_to_four() {
        let t = table();
        let range = t.settings.key_range;
        assert_eq!(t.rows.len(), 10, "rows 1..=js+D");
        for n in 1..=40 {
            let p = t.row(n).probabilities(range);
            let total: f64 = p.iter().map(|(_, p)| p).sum();
            assert!((total - 1.0).abs() < 1e-9, "n={n}: {p:?}");
            let mean: f64 = p.iter().map(|(v, p)| *v as f64 * p).sum();
            // Zero up to the resolution of the key range (one key moves the mean by up to 2D/range).
            assert!(
                mean.abs() <= 5.0 / range as f64,
                "n={n}: mean {mean} is not zero: {p:?}"
            );
            for (v, _) in &p {
                assert!(v.abs() <= 5, "n={n}: change {v} beyond D");
                let out = n + v;
                assert!(out == 0 || out >= 5, "n={n}: {out} would be shown: {p:?}");
            }
            // Every count can change: no small count is ever shown exactly.
            assert!(p.len() >= 2, "n={n} is never perturbed: {p:?}");
            // Every key of the range gives a change of the row.
            for key in [0, 1, range / 2, range - 1] {
                let out = t.count(n, key as i64);
                assert!(
                    out == 0 || (out >= 5 && (out - n).abs() <= 5),
                    "n={n} key={key}: {out}"
                );
            }
        }
    }

    #[test]
    fn large_counts_have_the_set_variance_and_small_ones_the_closest_they_can() {
        let t = table();
        let range = t.settings.key_range;
        let variance = |n: i64| -> f64 {
            t.row(n)
                .probabilities(range)
                .iter()
                .map(|(v, p)| (*v * *v) as f64 * p)
                .sum()
        };
        for n in 10..=12 {
            assert!((variance(n) - 4.0).abs() < 0.01, "n={n}: {}", variance(n));
        }
        // A count of 1 goes to 0 or to 5..=6: zero mean forces a variance of at least 4.
        let one = variance(1);
        assert!((4.0..=5.0).contains(&one), "{one}");
        assert_eq!(
            t.row(1)
                .probabilities(range)
                .iter()
                .map(|(v, _)| *v)
                .collect::<Vec<_>>(),
            vec![-1, 4, 5]
        );
    }

    #[test]
    fn the_same_cell_always_gets_the_same_noise_and_keys_spread_it() {
        let t = table();
        assert_eq!(t.count(37, 123_456), t.count(37, 123_456));
        assert_eq!(t.sum(1_000, 99, 0, 5), t.sum(1_000, 99, 0, 5));
        let counts: std::collections::BTreeSet<i64> = (0..4096).map(|k| t.count(20, k)).collect();
        assert_eq!(
            counts,
            (15..=25).collect(),
            "every change of the row occurs"
        );
        let mean: f64 = (0..4096).map(|k| t.count(20, k) as f64).sum::<f64>() / 4096.0;
        assert!((mean - 20.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn sums_are_never_exact_for_all_cells_and_stay_within_their_bound() {
        let t = table();
        for s in [0i64, 1, 3, 40, 250, 10_000] {
            let published: Vec<i64> = (0..200).map(|k| t.sum(s, k * 7919, 0, 3)).collect();
            assert!(
                published.iter().any(|p| *p != s),
                "{s} is always shown exactly"
            );
            for p in &published {
                let (lo, hi) = t.sum_bounds(*p, 3);
                assert!(
                    lo <= s as f64 && s as f64 <= hi,
                    "{s} published {p} outside [{lo}, {hi}]"
                );
            }
            let mean = published.iter().sum::<i64>() as f64 / 200.0;
            assert!(
                (mean - s as f64).abs() <= 0.1 * s as f64 + 1.0,
                "{s}: mean {mean}"
            );
        }
    }

    #[test]
    fn medians_over_few_values_are_withheld_and_others_rounded() {
        let t = table();
        assert_eq!(t.median(1_234, 4, 40), None);
        assert_eq!(t.median(1_234, 5, 10), Some(1_230));
        assert_eq!(t.median(1_235, 50, 50), Some(1_240));
        // A published 5 to 9 may hide a true count of 1 to 4: no median, whatever the truth.
        assert_eq!(t.median(1_234, 9, 9), None);
    }

    #[test]
    fn cells_perturbed_to_zero_are_not_listed_and_the_total_is_its_own_cell() {
        let t = table();
        // Single-record cells: most of them vanish, the others show at least the threshold.
        let groups: Vec<Group> = (0..64)
            .map(|i| Group {
                keys: vec![Cell::Int(i)],
                count: 1,
                sums: vec![2],
                key_sum: i * 1_000_003,
            })
            .collect();
        let total = Group {
            keys: vec![],
            count: 64,
            sums: vec![128],
            key_sum: groups.iter().map(|g| g.key_sum).sum(),
        };
        let answer = protected(&t, groups, &total, |_| None, &[3]);
        assert!(answer.suppressed);
        assert!(
            !answer.buckets.is_empty() && answer.buckets.len() < 64,
            "{}",
            answer.buckets.len()
        );
        for b in &answer.buckets {
            assert!(b.count.unwrap() >= 5 && b.suppressed, "{b:?}");
            assert!(b.sums[0].is_some());
        }
        let published = answer.total.unwrap();
        assert!((published - 64).abs() <= 5, "{published}");
        assert_eq!(published, t.count(64, total.key_sum));
    }

    #[test]
    fn the_settings_are_checked_with_clear_errors() {
        let ok = PerturbationSettings::default();
        assert!(ok.validate(5).is_ok());
        let bad = |f: fn(&mut PerturbationSettings), needle: &str| {
            let mut s = PerturbationSettings::default();
            f(&mut s);
            let error = s.validate(5).expect_err("refused").to_string();
            assert!(error.contains(needle), "{error}");
        };
        bad(|s| s.max_change = 3, "max_change (3) must be at least");
        bad(|s| s.variance = 30.0, "variance");
        bad(|s| s.key_range = 1000, "key_range");
        bad(|s| s.sum_noise = 1.5, "sum_noise");
        bad(|s| s.median_rounding = 0, "median_rounding");
    }
}
