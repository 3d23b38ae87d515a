//! Small-cell suppression for aggregate-only access.
//!
//! Primary suppression withholds every group counting fewer than the threshold. Complementary
//! suppression then withholds further groups, smallest first, until the withheld groups cannot be
//! recovered from the answer itself: at least two groups are withheld and together they count at
//! least the threshold (so "total minus the shown groups" reveals neither a single group nor a
//! small number). When the whole answer is below the threshold, the total is withheld too.

use crate::store::stats::{Cell, Group};

/// A group as answered: counts and sums are `None` when withheld.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub keys: Vec<Cell>,
    pub count: Option<i64>,
    pub sums: Vec<Option<i64>>,
    pub median: Option<i64>,
    pub suppressed: bool,
}

/// A grouped answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub total: Option<i64>,
    pub total_sums: Vec<Option<i64>>,
    pub suppressed: bool,
    pub buckets: Vec<Bucket>,
}

/// The exact answer, for roles with exact aggregates.
pub fn exact(groups: Vec<Group>, medians: impl Fn(&[Cell]) -> Option<i64>, sums: usize) -> Answer {
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
            median: medians(&g.keys),
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

/// The answer with small cells and their complements withheld.
pub fn suppressed(
    groups: Vec<Group>,
    medians: impl Fn(&[Cell]) -> Option<i64>,
    sums: usize,
    threshold: i64,
) -> Answer {
    let mut answer = exact(groups, medians, sums);
    let n = answer.buckets.len();
    let mut withheld: Vec<bool> = answer
        .buckets
        .iter()
        .map(|b| b.count.unwrap_or(0) < threshold)
        .collect();
    loop {
        let count = withheld.iter().filter(|w| **w).count();
        if count == 0 {
            break;
        }
        let withheld_total: i64 = answer
            .buckets
            .iter()
            .zip(&withheld)
            .filter(|(_, w)| **w)
            .map(|(b, _)| b.count.unwrap_or(0))
            .sum();
        if count >= 2 && withheld_total >= threshold {
            break;
        }
        // Withhold the smallest group still shown; stop when none is left.
        let next = (0..n)
            .filter(|i| !withheld[*i])
            .min_by_key(|i| answer.buckets[*i].count.unwrap_or(0));
        match next {
            Some(i) => withheld[i] = true,
            None => break,
        }
    }
    for (bucket, w) in answer.buckets.iter_mut().zip(&withheld) {
        if *w {
            bucket.count = None;
            bucket.sums = vec![None; bucket.sums.len()];
            bucket.median = None;
            bucket.suppressed = true;
        }
    }
    if answer.total.unwrap_or(0) < threshold {
        answer.total = None;
        answer.total_sums = vec![None; answer.total_sums.len()];
        answer.suppressed = true;
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(counts: &[i64]) -> Vec<Group> {
        counts
            .iter()
            .enumerate()
            .map(|(i, c)| Group {
                keys: vec![Cell::Int(i as i64)],
                count: *c,
                sums: vec![*c * 10],
            })
            .collect()
    }

    fn withheld(answer: &Answer) -> Vec<bool> {
        answer.buckets.iter().map(|b| b.suppressed).collect()
    }

    #[test]
    fn a_single_small_cell_takes_the_next_smallest_with_it() {
        let answer = suppressed(groups(&[3, 40, 9, 100]), |_| None, 1, 5);
        assert_eq!(withheld(&answer), vec![true, false, true, false]);
        assert_eq!(answer.total, Some(152));
        assert_eq!(answer.buckets[0].count, None);
        assert_eq!(answer.buckets[0].sums, vec![None]);
    }

    #[test]
    fn withheld_cells_together_reach_the_threshold() {
        let answer = suppressed(groups(&[1, 1, 50, 60]), |_| None, 1, 5);
        assert_eq!(withheld(&answer), vec![true, true, true, false]);
    }

    #[test]
    fn a_tiny_answer_withholds_its_total() {
        let answer = suppressed(groups(&[2, 1]), |_| None, 1, 5);
        assert_eq!(answer.total, None);
        assert!(answer.suppressed);
        assert!(answer.buckets.iter().all(|b| b.count.is_none()));
    }

    #[test]
    fn large_cells_are_exact() {
        let answer = suppressed(groups(&[5, 6, 70]), |_| None, 1, 5);
        assert_eq!(withheld(&answer), vec![false, false, false]);
        assert_eq!(answer.total, Some(81));
    }
}
