//! Small-cell suppression for aggregate-only access.
//!
//! The rule, applied to the *canonical table* of the grouped dimensions (every row, filters
//! ignored, so a cell is withheld the same way in every answer that shows it):
//!
//! 1. Primary suppression withholds every cell counting fewer than the threshold.
//! 2. Complementary suppression: in every line of the table (the cells that agree on all grouped
//!    dimensions but one, and the table as a whole), withheld cells are either none, or at least two
//!    that together count at least the threshold. Cells are added smallest first until that holds
//!    everywhere. So subtracting the shown cells of a line from that line's total, which another
//!    answer may give, yields only a sum of several cells that is itself not small.
//! 3. An answer's `total` is withheld whenever any of its cells is withheld (or it is itself below
//!    the threshold): otherwise it would give away the sum of the withheld cells.
//! 4. Filters of an aggregate-only caller may constrain only dimensions it groups by (enforced by
//!    the store), so every bucket of an answer is a cell of the canonical table and no answer
//!    aggregates across cells that another answer shows apart: differencing two answers (2014–2018
//!    minus 2014–2017) cannot isolate a withheld cell.

use std::collections::{HashMap, HashSet};

/// One key cell of a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// One group: its key cells, its row count and its sums.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub keys: Vec<Cell>,
    pub count: i64,
    pub sums: Vec<i64>,
}

/// A group as answered: counts and sums are `None` when withheld.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    pub keys: Vec<Cell>,
    pub count: Option<i64>,
    pub sums: Vec<Option<i64>>,
    pub median: Option<i64>,
    pub suppressed: bool,
}

/// A grouped answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub total: Option<i64>,
    pub total_sums: Vec<Option<i64>>,
    pub suppressed: bool,
    pub buckets: Vec<Bucket>,
}

/// The exact answer, for roles with exact aggregates.
pub(crate) fn exact(
    groups: Vec<Group>,
    medians: impl Fn(&[Cell]) -> Option<i64>,
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

/// Which cells of a canonical table are withheld (primary and complementary suppression).
pub(crate) fn withheld_cells(cells: &[Group], threshold: i64) -> HashSet<Vec<Cell>> {
    let n = cells.len();
    let dims = cells.first().map_or(0, |c| c.keys.len());
    let mut withheld: Vec<bool> = cells.iter().map(|c| c.count < threshold).collect();
    let mut lines: Vec<Vec<usize>> = vec![(0..n).collect()];
    for d in 0..dims {
        let mut by_rest: HashMap<Vec<&Cell>, Vec<usize>> = HashMap::new();
        for (i, cell) in cells.iter().enumerate() {
            let rest: Vec<&Cell> = cell
                .keys
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != d)
                .map(|(_, k)| k)
                .collect();
            by_rest.entry(rest).or_default().push(i);
        }
        lines.extend(by_rest.into_values());
    }
    loop {
        let mut changed = false;
        for line in &lines {
            let held: Vec<usize> = line.iter().copied().filter(|i| withheld[*i]).collect();
            if held.is_empty() {
                continue;
            }
            let sum: i64 = held.iter().map(|i| cells[*i].count).sum();
            if held.len() >= 2 && sum >= threshold {
                continue;
            }
            let next = line
                .iter()
                .copied()
                .filter(|i| !withheld[*i])
                .min_by_key(|i| cells[*i].count);
            if let Some(i) = next {
                withheld[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    cells
        .iter()
        .zip(withheld)
        .filter(|(_, w)| *w)
        .map(|(c, _)| c.keys.clone())
        .collect()
}

/// The answer over `groups` (the filtered cells) with the canonical table's withheld cells, and
/// its total when no cell is withheld and it is not itself small.
pub(crate) fn suppressed(
    groups: Vec<Group>,
    medians: impl Fn(&[Cell]) -> Option<i64>,
    sums: usize,
    threshold: i64,
    withheld: &HashSet<Vec<Cell>>,
) -> Answer {
    let mut answer = exact(groups, medians, sums);
    let mut any = false;
    for bucket in &mut answer.buckets {
        if withheld.contains(&bucket.keys) || bucket.count.unwrap_or(0) < threshold {
            bucket.count = None;
            bucket.sums = vec![None; bucket.sums.len()];
            bucket.median = None;
            bucket.suppressed = true;
            any = true;
        }
    }
    if any || answer.total.unwrap_or(0) < threshold {
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

    fn withheld(counts: &[i64]) -> Vec<bool> {
        let cells = groups(counts);
        let held = withheld_cells(&cells, 5);
        cells.iter().map(|c| held.contains(&c.keys)).collect()
    }

    fn grid(rows: &[&[i64]]) -> Vec<Group> {
        let mut out = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            for (c, count) in row.iter().enumerate() {
                out.push(Group {
                    keys: vec![Cell::Int(r as i64), Cell::Int(c as i64)],
                    count: *count,
                    sums: vec![],
                });
            }
        }
        out
    }

    #[test]
    fn a_single_small_cell_takes_the_next_smallest_with_it() {
        assert_eq!(withheld(&[3, 40, 9, 100]), vec![true, false, true, false]);
    }

    #[test]
    fn withheld_cells_together_reach_the_threshold() {
        assert_eq!(withheld(&[1, 1, 50, 60]), vec![true, true, true, false]);
    }

    #[test]
    fn large_cells_are_exact() {
        assert_eq!(withheld(&[5, 6, 70]), vec![false, false, false]);
    }

    #[test]
    fn every_row_and_column_with_a_withheld_cell_has_a_second_one() {
        let cells = grid(&[&[2, 30, 40], &[50, 60, 70], &[80, 90, 100]]);
        let held = withheld_cells(&cells, 5);
        for line in 0..3i64 {
            let row = cells
                .iter()
                .filter(|c| c.keys[0] == Cell::Int(line) && held.contains(&c.keys))
                .count();
            let col = cells
                .iter()
                .filter(|c| c.keys[1] == Cell::Int(line) && held.contains(&c.keys))
                .count();
            assert!(row != 1 && col != 1, "line {line}: {held:?}");
        }
        assert!(
            held.len() >= 4,
            "a corner cell needs a rectangle of four: {held:?}"
        );
    }

    #[test]
    fn an_answer_with_a_withheld_cell_withholds_its_total() {
        let cells = groups(&[3, 40, 9, 100]);
        let held = withheld_cells(&cells, 5);
        let answer = suppressed(cells, |_| None, 1, 5, &held);
        assert_eq!(answer.total, None);
        assert!(answer.suppressed);
        assert_eq!(answer.buckets[1].count, Some(40));
        assert_eq!(answer.buckets[0].sums, vec![None]);
    }
}
