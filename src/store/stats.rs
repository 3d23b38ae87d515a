//! Grouped counts, sums and medians: from a canonical table of cells cached per data generation
//! (`canonical.rs`) when the filter is on dimensions, else in SQL (`groupBy` becomes `GROUP BY`);
//! never rows pulled into memory.

use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, IntoTableRef, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{Condition, ConnectionTrait, QueryResult, Statement};

pub(crate) use super::canonical::Pred;
use super::canonical::{StatsCache, Table, TableKey};
use super::door::Owned;
use super::filters::Nested;
use super::generation;
use crate::domain::names::camel_case;
use crate::error::Result;
pub(crate) use crate::policy::suppression::Cell;
use crate::policy::suppression::{Answer, Group, Median};
use crate::policy::{Access, Aggregates, EntityKind};

/// The column of every grouped table holding its records' random keys (see the `record_keys`
/// migration): never selected on its own, only summed per group into the group's cell key.
const RECORD_KEY: &str = "record_key";

/// The type of a grouping dimension's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DimKind {
    Int,
    Text,
}

/// A grouped query: the table (with an optional join), the dimensions, the summed metrics, the
/// records' key column and the condition (caller's scope and filter).
pub(crate) struct GroupedQuery {
    pub select: SelectStatement,
    pub dims: Vec<(SimpleExpr, DimKind)>,
    pub sums: Vec<SimpleExpr>,
    pub record_key: Option<SimpleExpr>,
}

impl GroupedQuery {
    /// Starts a grouped query over `table` restricted by `condition`.
    pub(crate) fn new(table: impl IntoTableRef, condition: Condition) -> GroupedQuery {
        GroupedQuery {
            select: Query::select().from(table).cond_where(condition).to_owned(),
            dims: Vec::new(),
            sums: Vec::new(),
            record_key: None,
        }
    }

    pub(crate) fn dim_alias(i: usize) -> Alias {
        Alias::new(format!("d{i}"))
    }

    fn cast_bigint(expr: SimpleExpr) -> SimpleExpr {
        Func::cast_as(expr, Alias::new("BIGINT")).into()
    }

    pub(crate) fn with_dims(&self) -> SelectStatement {
        let mut select = self.select.clone();
        for (i, (expr, kind)) in self.dims.iter().enumerate() {
            let expr = match kind {
                DimKind::Int => Self::cast_bigint(expr.clone()),
                DimKind::Text => expr.clone(),
            };
            select.expr_as(expr, Self::dim_alias(i));
        }
        select
    }

    fn read_keys(&self, row: &QueryResult) -> Result<Vec<Cell>> {
        let mut keys = Vec::with_capacity(self.dims.len());
        for (i, (_, kind)) in self.dims.iter().enumerate() {
            let name = format!("d{i}");
            let cell = match kind {
                DimKind::Int => row
                    .try_get::<Option<i64>>("", &name)?
                    .map_or(Cell::Null, Cell::Int),
                DimKind::Text => row
                    .try_get::<Option<String>>("", &name)?
                    .map_or(Cell::Null, Cell::Text),
            };
            keys.push(cell);
        }
        Ok(keys)
    }

    /// Adds the count, the sum of the records' keys and the sums to a grouped select.
    pub(crate) fn aggregates(&self, select: &mut SelectStatement) {
        select.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
        if let Some(key) = &self.record_key {
            select.expr_as(
                Self::cast_bigint(Func::sum(key.clone()).into()),
                Alias::new("k"),
            );
        }
        for (i, sum) in self.sums.iter().enumerate() {
            select.expr_as(
                Self::cast_bigint(Func::sum(sum.clone()).into()),
                Alias::new(format!("s{i}")),
            );
        }
    }

    /// One group as a row of [`GroupedQuery::aggregates`] reads.
    fn read_group(&self, row: &QueryResult) -> Result<Group> {
        let keys = self.read_keys(row)?;
        let count: i64 = row.try_get("", "n")?;
        let mut sums = Vec::with_capacity(self.sums.len());
        for i in 0..self.sums.len() {
            sums.push(
                row.try_get::<Option<i64>>("", &format!("s{i}"))?
                    .unwrap_or(0),
            );
        }
        let key_sum = match self.record_key {
            Some(_) => row.try_get::<Option<i64>>("", "k")?.unwrap_or(0),
            None => 0,
        };
        Ok(Group {
            keys,
            count,
            sums,
            key_sum,
        })
    }

    /// Counts, sums and the sum of the records' keys per group, ordered by the group keys. Without
    /// dimensions: one group of every matching row (count 0 when there is none).
    pub(crate) async fn groups<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<Group>> {
        let mut select = self.with_dims();
        self.aggregates(&mut select);
        for i in 0..self.dims.len() {
            select.group_by_col(Self::dim_alias(i));
            select.order_by(Self::dim_alias(i), sea_orm::Order::Asc);
        }
        let rows = db.query_all(&select).await?;
        rows.iter().map(|row| self.read_group(row)).collect()
    }

    /// The true median of `value` per group over rows where it is not null (the mean of the two
    /// middle values when their number is even, rounded half up).
    pub(crate) async fn medians<C: ConnectionTrait>(
        &self,
        db: &C,
        value: SimpleExpr,
    ) -> Result<HashMap<Vec<Cell>, Median>> {
        let mut inner = self.with_dims();
        inner.expr_as(Self::cast_bigint(value.clone()), Alias::new("v"));
        inner.and_where(value.is_not_null());
        let builder = db.get_database_backend();
        let built = builder.build(&inner);
        let (inner_sql, values) = (built.sql, built.values.map(|v| v.0).unwrap_or_default());
        let dims: Vec<String> = (0..self.dims.len()).map(|i| format!("d{i}")).collect();
        let partition = if dims.is_empty() {
            String::new()
        } else {
            format!("PARTITION BY {}", dims.join(", "))
        };
        let group_by = if dims.is_empty() {
            String::new()
        } else {
            format!("GROUP BY {}", dims.join(", "))
        };
        let select_dims = dims.iter().map(|d| format!("{d}, ")).collect::<String>();
        let sql = format!(
            "SELECT {select_dims}MIN(v) AS lo, MAX(v) AS hi, MAX(cnt) AS n FROM (\
               SELECT {select_dims}v, \
                 ROW_NUMBER() OVER ({partition} ORDER BY v) AS rn, \
                 COUNT(*) OVER ({partition}) AS cnt \
               FROM ({inner_sql}) base\
             ) ranked WHERE rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2 {group_by}"
        );
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(builder, sql, values))
            .await?;
        let mut medians = HashMap::with_capacity(rows.len());
        for row in rows {
            let keys = self.read_keys(&row)?;
            // Without grouping, an empty selection still yields one row, of NULLs.
            let lo: Option<i64> = row.try_get("", "lo")?;
            let hi: Option<i64> = row.try_get("", "hi")?;
            let n: Option<i64> = row.try_get("", "n")?;
            if let (Some(lo), Some(hi), Some(n)) = (lo, hi, n) {
                medians.insert(
                    keys,
                    Median {
                        value: (lo + hi + 1).div_euclid(2),
                        over: n,
                    },
                );
            }
        }
        Ok(medians)
    }
}

/// How the caller may see aggregates of an entity; FORBIDDEN when not at all.
fn aggregate_mode(access: &Access, kind: EntityKind) -> Result<Aggregates> {
    match access.rule(kind).aggregates {
        Aggregates::None => Err(crate::error::Error::Forbidden(format!(
            "role {} may not read {} aggregates",
            access.role(),
            kind
        ))),
        mode => Ok(mode),
    }
}

/// The answer the caller gets: exact, or protected by the cell key method (every count perturbed
/// from its cell key, the total as a cell of its own, sums noised, medians withheld or rounded).
pub(crate) fn answer(
    access: &Access,
    mode: Aggregates,
    groups: Vec<Group>,
    total: Option<&Group>,
    medians: &HashMap<Vec<Cell>, Median>,
    sums: usize,
    floors: &[i64],
) -> Answer {
    use crate::policy::suppression;
    let median = |keys: &[Cell]| medians.get(keys).copied();
    match (mode, total) {
        (Aggregates::Suppressed, Some(total)) => {
            suppression::protected(&access.ptable(), groups, total, median, floors)
        }
        _ => suppression::exact(groups, median, sums),
    }
}

/// The refusal of a filter an aggregate-only caller may not use: it constrains a dimension the
/// answer is not grouped by, which would let two answers be subtracted to isolate a small cell.
fn unaligned(field: &str, dimension: &str) -> crate::error::Error {
    crate::error::Error::invalid(
        field,
        format!(
            "aggregate-only roles may filter only on dimensions they group by; add {dimension} to groupBy"
        ),
    )
}

/// The refusal of a filter that matches no dimension at all, for aggregate-only callers.
fn not_a_dimension(field: &str) -> crate::error::Error {
    crate::error::Error::invalid(
        field,
        "aggregate-only roles may filter only on grouping dimensions; this filter is not one",
    )
}

/// The rest of an entity's descriptor for its `…Stats` query: its grouping dimensions (named as
/// the filter fields that constrain them, `RECOVERY_STATE` ↔ `recoveryState`), the joins they need,
/// the summed metrics and the metric whose median is reported.
pub(crate) trait Grouped: Owned
where
    Self::Filter: async_graphql::InputType,
{
    type Dimension: async_graphql::resolver_utils::EnumType + Copy + PartialEq;

    /// A dimension's SQL expression and the type of its values.
    fn dimension(dim: Self::Dimension) -> (SimpleExpr, DimKind);

    /// Joins the grouped query needs for these dimensions.
    fn join(_select: &mut SelectStatement, _dims: &[Self::Dimension]) {}

    /// The metrics summed per group.
    fn sums() -> Vec<SimpleExpr> {
        Vec::new()
    }

    /// The noise floor of each summed metric, in its own unit: the least noise a protected sum
    /// gets, so that a small or zero sum is never shown exactly.
    fn sum_floors() -> Vec<i64> {
        Vec::new()
    }

    /// The metric whose median is reported per group.
    fn median() -> Option<SimpleExpr> {
        None
    }

    /// The filter's own fields (not its `and`, `or` and `not`) as conditions on dimension values,
    /// exactly as `criteria` constrains rows; `None` when it sets a field that is not a dimension,
    /// which only SQL can answer.
    fn cell_criteria(_filter: &Self::Filter) -> Option<Vec<Pred<Self::Dimension>>> {
        None
    }

    /// The grouped query over the rows matching `cond`.
    fn grouped(cond: Condition, group_by: &[Self::Dimension]) -> GroupedQuery {
        let mut query = GroupedQuery::new(Self::default(), cond);
        Self::join(&mut query.select, group_by);
        query.dims = group_by.iter().map(|d| Self::dimension(*d)).collect();
        query.sums = Self::sums();
        query.record_key = Some(Expr::col((Self::default(), Alias::new(RECORD_KEY))));
        query
    }
}

/// Counts, sums and medians grouped by the given dimensions over every row matching the filter,
/// answered as the caller's policy allows: exact, protected by the cell key method, or FORBIDDEN.
/// With a cache, a filter on dimensions only is answered from the canonical table of the grouped
/// and filtered dimensions (the same numbers); any other filter is answered in SQL.
pub(crate) async fn stats<E, C>(
    db: &C,
    access: &Access,
    filter: Option<&E::Filter>,
    group_by: &[E::Dimension],
    cache: Option<&StatsCache>,
) -> Result<Answer>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
    C: ConnectionTrait,
{
    use async_graphql::InputType;
    let mode = aggregate_mode(access, E::KIND)?;
    if mode == Aggregates::Suppressed
        && let Some(filter) = filter
    {
        check_aligned::<E>(&filter.to_value(), group_by)?;
    }
    let cond = match filter {
        Some(filter) => E::condition(filter)?,
        None => Condition::all(),
    };
    let cells = match filter {
        Some(filter) => predicate::<E>(filter).map(Some),
        None => Some(None),
    };
    let (groups, medians, total) = match (cache.filter(|c| c.enabled()), cells) {
        (Some(cache), Some(cells)) => {
            let (groups, medians, total) =
                from_table::<E, C>(db, cache, cells.as_ref(), group_by).await?;
            (groups, medians, Some(total))
        }
        _ => in_sql::<E, C>(db, cond, group_by, mode).await?,
    };
    let total = match mode {
        Aggregates::Suppressed => total,
        _ => None,
    };
    let answer = answer(
        access,
        mode,
        groups,
        total.as_ref(),
        &medians,
        E::sums().len(),
        &E::sum_floors(),
    );
    // The audit records the buckets published, never the true number of groups: a protected
    // answer's left-out cells must stay indistinguishable from empty ones, in the trail too.
    access.touched(
        E::KIND,
        E::KIND.possible_owners().iter().copied(),
        answer.buckets.len(),
    );
    Ok(answer)
}

/// The groups, medians and (for a protected answer) total in SQL: a `GROUP BY` pass, a median
/// pass and, for a protected answer, an ungrouped pass for the total.
async fn in_sql<E, C>(
    db: &C,
    cond: Condition,
    group_by: &[E::Dimension],
    mode: Aggregates,
) -> Result<(Vec<Group>, HashMap<Vec<Cell>, Median>, Option<Group>)>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
    C: ConnectionTrait,
{
    let query = E::grouped(cond.clone(), group_by);
    let groups = query.groups(db).await?;
    let medians = match E::median() {
        Some(metric) => query.medians(db, metric).await?,
        None => HashMap::new(),
    };
    // A protected answer's total is a cell of its own: the matching records, ungrouped.
    let total = match mode {
        Aggregates::Suppressed => {
            let mut ungrouped = E::grouped(cond, group_by);
            ungrouped.dims.clear();
            ungrouped.groups(db).await?.into_iter().next()
        }
        _ => None,
    };
    Ok((groups, medians, total))
}

/// The groups, medians and total from the canonical table of the grouped and filtered dimensions,
/// as of the current `records` generation (read first, in one statement).
async fn from_table<E, C>(
    db: &C,
    cache: &StatsCache,
    cells: Option<&Pred<E::Dimension>>,
    group_by: &[E::Dimension],
) -> Result<(Vec<Group>, HashMap<Vec<Cell>, Median>, Group)>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
    C: ConnectionTrait,
{
    let mut wanted: Vec<E::Dimension> = group_by.to_vec();
    if let Some(cells) = cells {
        cells.dims(&mut wanted);
    }
    let mut dims: Vec<usize> = wanted.iter().map(|d| ordinal(*d)).collect();
    dims.sort_unstable();
    dims.dedup();
    let column = |d: E::Dimension| {
        let o = ordinal(d);
        dims.iter().position(|x| *x == o).unwrap_or(0)
    };
    let generation = generation::current(db)
        .await?
        .of(generation::Scope::Records);
    let key = TableKey {
        kind: E::KIND,
        dims: dims.clone(),
    };
    let table = cache
        .table(generation, key, || async {
            let dimensions: Vec<E::Dimension> = dims.iter().map(|o| dimension::<E>(*o)).collect();
            let query = E::grouped(Condition::all(), &dimensions);
            Table::compute(db, &query, E::median()).await
        })
        .await?;
    let cells = cells.map(|c| c.map(&column));
    let group_by: Vec<usize> = group_by.iter().map(|d| column(*d)).collect();
    Ok(table.answer(cells.as_ref(), &group_by))
}

/// The position of a dimension in its enumeration.
fn ordinal<D: async_graphql::resolver_utils::EnumType + PartialEq + Copy>(dim: D) -> usize {
    D::items()
        .iter()
        .position(|item| item.value == dim)
        .unwrap_or(0)
}

/// The dimension at a position of its entity's enumeration.
fn dimension<E>(ordinal: usize) -> E::Dimension
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
{
    <E::Dimension as async_graphql::resolver_utils::EnumType>::items()[ordinal].value
}

/// The whole filter, `and`, `or` and `not` included, as a condition on dimension values combined
/// as `combine` combines the SQL conditions; `None` when any part sets a field that is not a
/// dimension.
fn predicate<E>(filter: &E::Filter) -> Option<Pred<E::Dimension>>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
{
    let mut parts = E::cell_criteria(filter)?;
    let (and, or, not) = filter.nested();
    for sub in and.unwrap_or_default() {
        parts.push(predicate::<E>(sub)?);
    }
    if let Some(any) = or {
        parts.push(Pred::Any(
            any.iter().map(predicate::<E>).collect::<Option<Vec<_>>>()?,
        ));
    }
    if let Some(not) = not {
        parts.push(Pred::Not(Box::new(predicate::<E>(not)?)));
    }
    Some(Pred::All(parts))
}

/// For aggregate-only callers: every filtered dimension must be grouped by, and only dimensions
/// may be filtered. Read from the filter as the API received it, `and`/`or`/`not` included.
fn check_aligned<E>(filter: &async_graphql::Value, group_by: &[E::Dimension]) -> Result<()>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
{
    use async_graphql::Value;
    let Value::Object(fields) = filter else {
        return Ok(());
    };
    for (name, value) in fields {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("and" | "or", Value::List(subs)) => {
                for sub in subs {
                    check_aligned::<E>(sub, group_by)?;
                }
            }
            ("not", sub) => check_aligned::<E>(sub, group_by)?,
            (field, _) => {
                let dimension = <E::Dimension as async_graphql::resolver_utils::EnumType>::items()
                    .iter()
                    .find(|item| camel_case(item.name) == field);
                match dimension {
                    Some(item) if group_by.contains(&item.value) => {}
                    Some(item) => return Err(unaligned(field, item.name)),
                    None => return Err(not_a_dimension(field)),
                }
            }
        }
    }
    Ok(())
}
