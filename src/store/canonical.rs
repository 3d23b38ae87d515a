//! Canonical tables: the cells of one entity's dimension set with their counts, sums, sums of
//! record keys and histograms of the median metric, computed in one grouped pass, cached per
//! `records` generation, and answered from in memory.
//!
//! A stats answer whose filter constrains only dimensions reads the table of its grouped and
//! filtered dimensions: the filter selects cells (with SQL's three-valued logic, as the SQL filter
//! would select rows), the cells roll up to the grouped dimensions, and the total, the cell keys
//! (a merged cell's key sum is the sum of its cells' key sums) and the exact medians (merged
//! histograms) come from the same cells. Every answer is identical to the SQL one.
//!
//! Each process keeps the tables of the generation it last read, least recently used first out,
//! within `cache.stats_bytes`; a request that reads a newer generation drops them all.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lru::LruCache;
use sea_orm::sea_query::{Alias, Func, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use tokio::sync::OnceCell;

use super::stats::{DimKind, GroupedQuery};
use crate::error::Result;
use crate::policy::EntityKind;
use crate::policy::suppression::{Cell, Group, Median};

/// A condition on dimension values, evaluated on a table's cells with SQL's three-valued logic
/// (`None` is SQL's unknown). `D` names a dimension: an entity's dimension, or a column of a table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pred<D> {
    /// True when every part is (true when there is none).
    All(Vec<Pred<D>>),
    /// True when some part is (false when there is none).
    Any(Vec<Pred<D>>),
    Not(Box<Pred<D>>),
    /// True when the inner condition is true, false otherwise: a membership in a subquery, where
    /// an unknown inner condition leaves the row out of the subquery.
    IsTrue(Box<Pred<D>>),
    /// `dimension IN (values)`; an empty list is false, as the store renders it.
    In(D, Vec<Cell>),
    /// `min <= dimension AND dimension <= max`, each end when given.
    Range(D, Option<i64>, Option<i64>),
}

impl<D: Copy> Pred<D> {
    /// `dimension IN (values)` of a filter list, `None` when a value is not a string or integer.
    pub(crate) fn one_of<V: Clone + Into<Value>>(dim: D, values: &[V]) -> Option<Pred<D>> {
        let cells = values
            .iter()
            .map(|v| match v.clone().into() {
                Value::String(Some(s)) => Some(Cell::Text(s.to_string())),
                Value::BigInt(Some(i)) => Some(Cell::Int(i)),
                Value::Int(Some(i)) => Some(Cell::Int(i.into())),
                Value::SmallInt(Some(i)) => Some(Cell::Int(i.into())),
                _ => None,
            })
            .collect::<Option<Vec<Cell>>>()?;
        Some(Pred::In(dim, cells))
    }

    /// `min <= dimension <= max` of a filter range.
    pub(crate) fn range(dim: D, range: &super::filters::IntRange) -> Pred<D> {
        Pred::Range(dim, range.min.map(i64::from), range.max.map(i64::from))
    }

    /// The dimensions the condition reads.
    pub(crate) fn dims(&self, out: &mut Vec<D>) {
        match self {
            Pred::All(parts) | Pred::Any(parts) => parts.iter().for_each(|p| p.dims(out)),
            Pred::Not(inner) | Pred::IsTrue(inner) => inner.dims(out),
            Pred::In(d, _) | Pred::Range(d, _, _) => out.push(*d),
        }
    }

    /// The same condition over other names of its dimensions.
    pub(crate) fn map<E>(&self, f: &impl Fn(D) -> E) -> Pred<E> {
        match self {
            Pred::All(parts) => Pred::All(parts.iter().map(|p| p.map(f)).collect()),
            Pred::Any(parts) => Pred::Any(parts.iter().map(|p| p.map(f)).collect()),
            Pred::Not(inner) => Pred::Not(Box::new(inner.map(f))),
            Pred::IsTrue(inner) => Pred::IsTrue(Box::new(inner.map(f))),
            Pred::In(d, values) => Pred::In(f(*d), values.clone()),
            Pred::Range(d, min, max) => Pred::Range(f(*d), *min, *max),
        }
    }
}

impl Pred<usize> {
    /// The condition's value on a cell whose dimension values are `keys`.
    pub(crate) fn eval(&self, keys: &[Cell]) -> Option<bool> {
        match self {
            Pred::All(parts) => {
                let mut unknown = false;
                for part in parts {
                    match part.eval(keys) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Pred::Any(parts) => {
                let mut unknown = false;
                for part in parts {
                    match part.eval(keys) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
            Pred::Not(inner) => inner.eval(keys).map(|b| !b),
            Pred::IsTrue(inner) => Some(inner.eval(keys) == Some(true)),
            Pred::In(_, values) if values.is_empty() => Some(false),
            Pred::In(i, values) => match &keys[*i] {
                Cell::Null => None,
                cell => Some(values.contains(cell)),
            },
            Pred::Range(_, None, None) => Some(true),
            Pred::Range(i, min, max) => {
                let value = keys[*i].as_int()?;
                Some(min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m))
            }
        }
    }
}

/// One cell of a canonical table.
#[derive(Debug)]
struct TableCell {
    keys: Vec<Cell>,
    count: i64,
    key_sum: i64,
    sums: Vec<i64>,
    /// This cell's part of the table's histogram.
    hist: std::ops::Range<usize>,
}

/// The cells of one entity's dimension set, as of one generation.
#[derive(Debug)]
pub(crate) struct Table {
    kinds: Vec<DimKind>,
    cells: Vec<TableCell>,
    /// `(value, rows)` of the median metric per cell, ascending within a cell.
    hist: Vec<(i64, i64)>,
    /// The rank of every text value in the database's order (its collation).
    text_rank: HashMap<String, usize>,
    /// Whether the database sorts nulls first (SQLite) or last (PostgreSQL) in ascending order.
    nulls_first: bool,
    sums: usize,
    bytes: usize,
}

impl Table {
    /// Computes the table of `query`'s dimensions (over every row, no condition) in one grouped
    /// pass: per cell and value of `median`, the rows, the sum of their keys and the sums.
    pub(crate) async fn compute<C: ConnectionTrait>(
        db: &C,
        query: &GroupedQuery,
        median: Option<SimpleExpr>,
    ) -> Result<Table> {
        let mut select = query.with_dims();
        let with_median = median.is_some();
        if let Some(metric) = median {
            select.expr_as(
                SimpleExpr::from(Func::cast_as(metric, Alias::new("BIGINT"))),
                Alias::new("v"),
            );
            select.group_by_col(Alias::new("v"));
        }
        query.aggregates(&mut select);
        for i in 0..query.dims.len() {
            select.group_by_col(GroupedQuery::dim_alias(i));
        }
        let rows = db.query_all(&select).await?;

        // Columns by position: the dimensions, the metric's value, the count, the key sum, the sums.
        let dims = query.dims.len();
        let at_count = dims + usize::from(with_median);
        let sums = query.sums.len();
        let keyed = usize::from(query.record_key.is_some());
        let mut index: HashMap<Vec<Cell>, usize> = HashMap::new();
        let mut cells: Vec<TableCell> = Vec::new();
        let mut values: Vec<Vec<(i64, i64)>> = Vec::new();
        let mut keys = Vec::with_capacity(dims);
        for row in rows {
            keys.clear();
            for (i, (_, kind)) in query.dims.iter().enumerate() {
                keys.push(match kind {
                    DimKind::Int => row
                        .try_get_by_index::<Option<i64>>(i)?
                        .map_or(Cell::Null, Cell::Int),
                    DimKind::Text => row
                        .try_get_by_index::<Option<String>>(i)?
                        .map_or(Cell::Null, Cell::Text),
                });
            }
            let at = match index.get(&keys) {
                Some(at) => *at,
                None => {
                    cells.push(TableCell {
                        keys: keys.clone(),
                        count: 0,
                        key_sum: 0,
                        sums: vec![0; sums],
                        hist: 0..0,
                    });
                    values.push(Vec::new());
                    index.insert(keys.clone(), cells.len() - 1);
                    cells.len() - 1
                }
            };
            let count: i64 = row.try_get_by_index(at_count)?;
            let cell = &mut cells[at];
            cell.count += count;
            if keyed == 1 {
                cell.key_sum += row
                    .try_get_by_index::<Option<i64>>(at_count + 1)?
                    .unwrap_or(0);
            }
            for (j, total) in cell.sums.iter_mut().enumerate() {
                *total += row
                    .try_get_by_index::<Option<i64>>(at_count + 1 + keyed + j)?
                    .unwrap_or(0);
            }
            if with_median && let Some(v) = row.try_get_by_index::<Option<i64>>(dims)? {
                values[at].push((v, count));
            }
        }
        let mut hist = Vec::with_capacity(values.iter().map(Vec::len).sum());
        for (cell, mut own) in cells.iter_mut().zip(values) {
            own.sort_unstable();
            let start = hist.len();
            hist.extend(own);
            cell.hist = start..hist.len();
        }

        let backend = db.get_database_backend();
        let text_rank = text_order(db, &cells).await?;
        let kinds: Vec<DimKind> = query.dims.iter().map(|(_, kind)| *kind).collect();
        let bytes = std::mem::size_of::<Table>()
            + hist.capacity() * std::mem::size_of::<(i64, i64)>()
            + text_rank.keys().map(|k| k.capacity() + 48).sum::<usize>()
            + cells
                .iter()
                .map(|c| {
                    std::mem::size_of::<TableCell>()
                        + c.keys.capacity() * std::mem::size_of::<Cell>()
                        + c.keys
                            .iter()
                            .map(|k| k.as_text().map_or(0, str::len))
                            .sum::<usize>()
                        + c.sums.capacity() * 8
                })
                .sum::<usize>();
        Ok(Table {
            kinds,
            sums: query.sums.len(),
            cells,
            hist,
            text_rank,
            nulls_first: backend != DbBackend::Postgres,
            bytes,
        })
    }

    /// The memory the table holds, about.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The answer's groups over the cells `filter` selects, rolled up to the table's columns
    /// `group_by` and ordered as SQL orders them (one group of every selected row when there is no
    /// grouping), the medians per group, and the selected cells as one group (the total).
    pub(crate) fn answer(
        &self,
        filter: Option<&Pred<usize>>,
        group_by: &[usize],
    ) -> (Vec<Group>, HashMap<Vec<Cell>, Median>, Group) {
        let selected: Vec<&TableCell> = self
            .cells
            .iter()
            .filter(|c| filter.is_none_or(|f| f.eval(&c.keys) == Some(true)))
            .collect();
        let mut total = Group {
            keys: Vec::new(),
            count: 0,
            sums: vec![0; self.sums],
            key_sum: 0,
        };
        let mut index: HashMap<Vec<Cell>, usize> = HashMap::new();
        let mut groups: Vec<(Group, Vec<&TableCell>)> = Vec::new();
        if group_by.is_empty() {
            index.insert(Vec::new(), 0);
            groups.push((total.clone(), Vec::new()));
        }
        for cell in selected {
            add(&mut total, cell);
            let keys: Vec<Cell> = group_by.iter().map(|i| cell.keys[*i].clone()).collect();
            let at = *index.entry(keys.clone()).or_insert_with(|| {
                groups.push((
                    Group {
                        keys,
                        count: 0,
                        sums: vec![0; self.sums],
                        key_sum: 0,
                    },
                    Vec::new(),
                ));
                groups.len() - 1
            });
            add(&mut groups[at].0, cell);
            groups[at].1.push(cell);
        }
        groups.sort_by(|(a, _), (b, _)| self.compare(group_by, &a.keys, &b.keys));
        let mut medians = HashMap::new();
        for (group, cells) in &groups {
            if let Some(median) = self.median(cells) {
                medians.insert(group.keys.clone(), median);
            }
        }
        let groups = groups.into_iter().map(|(g, _)| g).collect();
        (groups, medians, total)
    }

    /// Two groups' keys in the order of SQL's `ORDER BY` of the grouped columns, ascending.
    fn compare(&self, group_by: &[usize], a: &[Cell], b: &[Cell]) -> Ordering {
        for ((x, y), column) in a.iter().zip(b).zip(group_by) {
            let order = match (x, y) {
                (Cell::Null, Cell::Null) => Ordering::Equal,
                (Cell::Null, _) if self.nulls_first => Ordering::Less,
                (Cell::Null, _) => Ordering::Greater,
                (_, Cell::Null) if self.nulls_first => Ordering::Greater,
                (_, Cell::Null) => Ordering::Less,
                (Cell::Int(x), Cell::Int(y)) => x.cmp(y),
                (Cell::Text(x), Cell::Text(y)) => {
                    match (self.text_rank.get(x), self.text_rank.get(y)) {
                        (Some(x), Some(y)) => x.cmp(y),
                        _ => x.cmp(y),
                    }
                }
                _ => {
                    debug_assert!(self.kinds[*column] == DimKind::Int, "mixed cells");
                    Ordering::Equal
                }
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    }

    /// The exact median of the metric over the cells' non-null values, as `medians()` takes it:
    /// the mean of the values ranked `(n + 1) / 2` and `(n + 2) / 2`, rounded half up.
    fn median(&self, cells: &[&TableCell]) -> Option<Median> {
        let parts: Vec<&[(i64, i64)]> = cells
            .iter()
            .map(|c| &self.hist[c.hist.clone()])
            .filter(|h| !h.is_empty())
            .collect();
        let n: i64 = parts.iter().flat_map(|h| h.iter()).map(|(_, c)| c).sum();
        if n == 0 {
            return None;
        }
        let (lo_rank, hi_rank) = ((n + 1) / 2, (n + 2) / 2);
        let (lo, hi) = match parts.as_slice() {
            [one] => ranked(one.iter().copied(), lo_rank, hi_rank),
            _ => {
                let entries: usize = parts.iter().map(|h| h.len()).sum();
                let min = parts.iter().map(|h| h[0].0).min().unwrap_or(0);
                let max = parts.iter().map(|h| h[h.len() - 1].0).max().unwrap_or(0);
                let span = max.abs_diff(min);
                if span < (4 * entries as u64).max(1024) {
                    // Dense counts over the values' span.
                    let mut dense = vec![0i64; span as usize + 1];
                    for (v, c) in parts.iter().flat_map(|h| h.iter()) {
                        dense[v.abs_diff(min) as usize] += c;
                    }
                    ranked(
                        dense
                            .into_iter()
                            .enumerate()
                            .filter(|(_, c)| *c > 0)
                            .map(|(i, c)| (min + i as i64, c)),
                        lo_rank,
                        hi_rank,
                    )
                } else {
                    let mut all: Vec<(i64, i64)> =
                        parts.iter().flat_map(|h| h.iter().copied()).collect();
                    all.sort_unstable();
                    ranked(all.into_iter(), lo_rank, hi_rank)
                }
            }
        };
        Some(Median {
            value: (lo + hi + 1).div_euclid(2),
            over: n,
        })
    }
}

/// Adds a cell to a group.
fn add(group: &mut Group, cell: &TableCell) {
    group.count += cell.count;
    group.key_sum += cell.key_sum;
    for (total, s) in group.sums.iter_mut().zip(&cell.sums) {
        *total += s;
    }
}

/// The values of ranks `lo` and `hi` (1-based) of ascending `(value, rows)` entries.
fn ranked(entries: impl Iterator<Item = (i64, i64)>, lo: i64, hi: i64) -> (i64, i64) {
    let mut seen = 0;
    let mut low = None;
    for (value, rows) in entries {
        seen += rows;
        if low.is_none() && seen >= lo {
            low = Some(value);
        }
        if seen >= hi {
            return (low.unwrap_or(value), value);
        }
    }
    (low.unwrap_or(0), low.unwrap_or(0))
}

/// The ranks of the text values of the cells in the database's own order: SQLite compares text
/// byte by byte (its BINARY collation, the one every column uses); PostgreSQL sorts them, so the
/// database's collation decides, as it does in a SQL `ORDER BY`.
async fn text_order<C: ConnectionTrait>(
    db: &C,
    cells: &[TableCell],
) -> Result<HashMap<String, usize>> {
    let mut texts: Vec<&str> = cells
        .iter()
        .flat_map(|c| c.keys.iter().filter_map(Cell::as_text))
        .collect();
    texts.sort_unstable();
    texts.dedup();
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres || texts.is_empty() {
        return Ok(texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t.to_owned(), i))
            .collect());
    }
    // One parameter, whatever the number of values: a JSON array of them.
    let list = serde_json::to_string(&texts).map_err(anyhow::Error::from)?;
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT v FROM jsonb_array_elements_text(CAST($1 AS jsonb)) AS t(v) ORDER BY v",
            [Value::from(list)],
        ))
        .await?;
    let mut ranks = HashMap::with_capacity(rows.len());
    for (i, row) in rows.into_iter().enumerate() {
        ranks.insert(row.try_get::<String>("", "v")?, i);
    }
    Ok(ranks)
}

/// Which table: an entity and its dimension set (ordinals of its dimension enumeration, ascending).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct TableKey {
    pub kind: EntityKind,
    pub dims: Vec<usize>,
}

/// A table being computed or computed; concurrent misses of one table wait on one computation.
struct Slot {
    table: OnceCell<Arc<Table>>,
    counted: std::sync::atomic::AtomicBool,
}

struct Tables {
    generation: i64,
    lru: LruCache<TableKey, Arc<Slot>>,
    bytes: usize,
}

/// A process's canonical tables, for the `records` generation it last read, within a bound in
/// bytes (least recently used out first). A bound of 0 turns the cache off: every answer is
/// computed in SQL.
pub(crate) struct StatsCache {
    budget: usize,
    tables: Mutex<Tables>,
}

impl StatsCache {
    /// A cache holding at most about `budget` bytes of tables.
    pub(crate) fn new(budget: usize) -> StatsCache {
        StatsCache {
            budget,
            tables: Mutex::new(Tables {
                generation: i64::MIN,
                lru: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    /// Whether answers come from tables at all.
    pub(crate) fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The table `key` as of `generation`: cached, or computed by `compute` (once for concurrent
    /// callers) and kept while it fits. The cache holds the tables of one generation, the last
    /// one read.
    pub(crate) async fn table<F, Fut>(
        &self,
        generation: i64,
        key: TableKey,
        compute: F,
    ) -> Result<Arc<Table>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Table>>,
    {
        let slot = {
            let mut tables = self.lock();
            // Any other generation drops every table: a newer one after a change, an older one
            // after the counter went back (a restored database), or a request that read the
            // generation just before another's change (its table, computed after its read, is
            // kept under the older generation and dropped by the next request's newer one).
            if generation != tables.generation {
                tables.lru.clear();
                tables.bytes = 0;
                tables.generation = generation;
                crate::telemetry::stats_cache_bytes(0);
            }
            {
                match tables.lru.get(&key) {
                    Some(slot) => {
                        if let Some(table) = slot.table.get() {
                            crate::telemetry::stats_cache_lookup(true);
                            return Ok(table.clone());
                        }
                        Some(slot.clone())
                    }
                    None => {
                        let slot = Arc::new(Slot {
                            table: OnceCell::new(),
                            counted: false.into(),
                        });
                        tables.lru.put(key.clone(), slot.clone());
                        Some(slot)
                    }
                }
            }
        };
        crate::telemetry::stats_cache_lookup(false);
        let Some(slot) = slot else {
            return Ok(Arc::new(compute().await?));
        };
        let table = slot
            .table
            .get_or_try_init(|| async { compute().await.map(Arc::new) })
            .await?
            .clone();
        self.account(generation, &key, &slot, table.bytes());
        Ok(table)
    }

    /// Counts a computed table's bytes once, if it is still cached, and evicts the least recently
    /// used tables while the cache is over its bound (the table itself too when it alone is).
    fn account(&self, generation: i64, key: &TableKey, slot: &Arc<Slot>, bytes: usize) {
        let mut tables = self.lock();
        let cached = tables.generation == generation
            && tables.lru.peek(key).is_some_and(|s| Arc::ptr_eq(s, slot));
        if !cached || slot.counted.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tables.bytes += bytes;
        while tables.bytes > self.budget {
            let Some((_, evicted)) = tables.lru.pop_lru() else {
                break;
            };
            if evicted.counted.load(std::sync::atomic::Ordering::SeqCst)
                && let Some(table) = evicted.table.get()
            {
                tables.bytes = tables.bytes.saturating_sub(table.bytes());
            }
        }
        crate::telemetry::stats_cache_bytes(tables.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[Cell]) -> Vec<Cell> {
        values.to_vec()
    }

    #[test]
    fn conditions_follow_sql_three_valued_logic() {
        let text = |s: &str| Cell::Text(s.to_owned());
        let cell = keys(&[Cell::Int(2020), Cell::Null, text("A")]);
        let is_a = Pred::In(2, vec![text("A")]);
        let null_in = Pred::In(1, vec![text("X")]);
        assert_eq!(is_a.eval(&cell), Some(true));
        assert_eq!(null_in.eval(&cell), None);
        assert_eq!(Pred::Not(Box::new(null_in.clone())).eval(&cell), None);
        assert_eq!(
            Pred::IsTrue(Box::new(null_in.clone())).eval(&cell),
            Some(false)
        );
        assert_eq!(
            Pred::In(1, vec![]).eval(&cell),
            Some(false),
            "IN () is 1 = 2"
        );
        assert_eq!(
            Pred::All(vec![null_in.clone(), Pred::In(2, vec![])]).eval(&cell),
            Some(false)
        );
        assert_eq!(
            Pred::All(vec![null_in.clone(), is_a.clone()]).eval(&cell),
            None
        );
        assert_eq!(
            Pred::Any(vec![null_in.clone(), is_a.clone()]).eval(&cell),
            Some(true)
        );
        assert_eq!(Pred::Any(vec![null_in.clone()]).eval(&cell), None);
        assert_eq!(Pred::<usize>::All(vec![]).eval(&cell), Some(true));
        assert_eq!(Pred::<usize>::Any(vec![]).eval(&cell), Some(false));
        assert_eq!(
            Pred::Range(0, Some(2019), Some(2020)).eval(&cell),
            Some(true)
        );
        assert_eq!(Pred::Range(0, Some(2021), None).eval(&cell), Some(false));
        assert_eq!(Pred::Range(1, Some(1), None).eval(&cell), None);
        assert_eq!(Pred::Range(1, None, None).eval(&cell), Some(true));
    }

    #[test]
    fn merged_histograms_give_the_sql_median() {
        // Ranks (n+1)/2 and (n+2)/2 of the merged values, their mean rounded half up.
        let parts: Vec<Vec<i64>> = vec![vec![1, 4, 4, 9], vec![2, 3], vec![10, 11, 400]];
        let mut hist = Vec::new();
        let mut cells = Vec::new();
        for part in &parts {
            let start = hist.len();
            let mut counted: Vec<(i64, i64)> = Vec::new();
            for v in part {
                match counted.last_mut() {
                    Some((last, c)) if last == v => *c += 1,
                    _ => counted.push((*v, 1)),
                }
            }
            hist.extend(counted);
            cells.push(TableCell {
                keys: vec![],
                count: part.len() as i64,
                key_sum: 0,
                sums: vec![],
                hist: start..hist.len(),
            });
        }
        let table = Table {
            kinds: vec![],
            cells: vec![],
            hist,
            text_rank: HashMap::new(),
            nulls_first: true,
            sums: 0,
            bytes: 0,
        };
        let median = |which: &[usize]| {
            let chosen: Vec<&TableCell> = which.iter().map(|i| &cells[*i]).collect();
            table.median(&chosen).map(|m| (m.value, m.over))
        };
        // 1 2 3 4 4 9 10 11 400: the 5th, 4.
        assert_eq!(median(&[0, 1, 2]), Some((4, 9)));
        // 1 4 4 9: (4 + 4) / 2.
        assert_eq!(median(&[0]), Some((4, 4)));
        // 2 3: 2.5 rounds up to 3.
        assert_eq!(median(&[1]), Some((3, 2)));
        // 1 2 3 4 4 9: (3 + 4) / 2 rounds up to 4.
        assert_eq!(median(&[0, 1]), Some((4, 6)));
        // 10 11 400 with 2 3: 2 3 10 11 400 → 10; wide span takes the sorted path.
        assert_eq!(median(&[1, 2]), Some((10, 5)));
        assert_eq!(median(&[]), None);
    }

    fn sized(bytes: usize) -> Table {
        Table {
            kinds: vec![],
            cells: vec![],
            hist: vec![],
            text_rank: HashMap::new(),
            nulls_first: true,
            sums: 0,
            bytes,
        }
    }

    fn key(dims: &[usize]) -> TableKey {
        TableKey {
            kind: EntityKind::Trace,
            dims: dims.to_vec(),
        }
    }

    #[tokio::test]
    async fn a_table_is_computed_once_per_generation_and_kept_within_the_bound() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let computed = AtomicUsize::new(0);
        let compute = |bytes: usize| {
            let computed = &computed;
            move || async move {
                computed.fetch_add(1, SeqCst);
                Ok(sized(bytes))
            }
        };
        let cache = StatsCache::new(1_000);
        // Two concurrent misses of one table compute it once.
        let (a, b) = tokio::join!(
            cache.table(1, key(&[0]), compute(400)),
            cache.table(1, key(&[0]), compute(400))
        );
        assert!(Arc::ptr_eq(&a.unwrap(), &b.unwrap()));
        assert_eq!(computed.load(SeqCst), 1);
        cache.table(1, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 1, "a hit");
        assert_eq!(cache.lock().bytes, 400);

        // Over the bound, the least recently used table goes.
        cache.table(1, key(&[1]), compute(400)).await.unwrap();
        cache.table(1, key(&[0]), compute(400)).await.unwrap();
        cache.table(1, key(&[2]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 3);
        assert_eq!(cache.lock().bytes, 800);
        cache.table(1, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 3, "[0] was used last, [1] went");
        cache.table(1, key(&[1]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 4);

        // A table larger than the bound is answered, never kept.
        cache.table(1, key(&[3]), compute(5_000)).await.unwrap();
        cache.table(1, key(&[3]), compute(5_000)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 6);
        assert!(cache.lock().bytes <= 1_000);

        // A newer generation drops every table.
        cache.table(2, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 7);
        assert_eq!(cache.lock().bytes, 400);
        cache.table(2, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 7);
        // So does an older one (a restored database counts from an older generation again): the
        // tables of generation 2 are never answered once the counter went back, not even when it
        // climbs to 2 again.
        cache.table(1, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 8);
        cache.table(2, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 9);
        cache.table(2, key(&[0]), compute(400)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 9);

        // A failed computation is not kept: the next caller computes again.
        let failed = cache
            .table(2, key(&[5]), || async {
                Err(crate::error::Error::Unavailable("down"))
            })
            .await;
        assert!(failed.is_err());
        cache.table(2, key(&[5]), compute(10)).await.unwrap();
        assert_eq!(computed.load(SeqCst), 10);
    }
}
