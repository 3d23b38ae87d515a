//! Grouped counts, sums and medians computed in the database: `groupBy` becomes SQL `GROUP BY`,
//! never rows pulled into memory.

use std::collections::HashMap;

use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Func, IntoTableRef, Query, SelectStatement, SimpleExpr,
};
use sea_orm::{Condition, ConnectionTrait, QueryResult, Statement};

use super::door::Owned;
use crate::domain::names::camel_case;
use crate::error::Result;
pub(crate) use crate::policy::suppression::Cell;
use crate::policy::suppression::{Answer, Group};
use crate::policy::{Access, Aggregates, EntityKind};

/// The type of a grouping dimension's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DimKind {
    Int,
    Text,
}

/// A grouped query: the table (with an optional join), the dimensions, the summed metrics and the
/// condition (caller's scope and filter).
pub(crate) struct GroupedQuery {
    pub select: SelectStatement,
    pub dims: Vec<(SimpleExpr, DimKind)>,
    pub sums: Vec<SimpleExpr>,
}

/// A group's median and how many values it was taken over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Median {
    pub value: i64,
    pub over: i64,
}

impl GroupedQuery {
    /// Starts a grouped query over `table` restricted by `condition`.
    pub(crate) fn new(table: impl IntoTableRef, condition: Condition) -> GroupedQuery {
        GroupedQuery {
            select: Query::select().from(table).cond_where(condition).to_owned(),
            dims: Vec::new(),
            sums: Vec::new(),
        }
    }

    fn dim_alias(i: usize) -> Alias {
        Alias::new(format!("d{i}"))
    }

    fn cast_bigint(expr: SimpleExpr) -> SimpleExpr {
        Func::cast_as(expr, Alias::new("BIGINT")).into()
    }

    fn with_dims(&self) -> SelectStatement {
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

    /// Counts and sums per group, ordered by the group keys.
    pub(crate) async fn groups<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<Group>> {
        let mut select = self.with_dims();
        select.expr_as(Expr::cust("COUNT(*)"), Alias::new("n"));
        for (i, sum) in self.sums.iter().enumerate() {
            select.expr_as(
                Self::cast_bigint(Func::sum(sum.clone()).into()),
                Alias::new(format!("s{i}")),
            );
        }
        for i in 0..self.dims.len() {
            select.group_by_col(Self::dim_alias(i));
            select.order_by(Self::dim_alias(i), sea_orm::Order::Asc);
        }
        let rows = db.query_all(&select).await?;
        let mut groups = Vec::with_capacity(rows.len());
        for row in rows {
            let keys = self.read_keys(&row)?;
            let count: i64 = row.try_get("", "n")?;
            let mut sums = Vec::with_capacity(self.sums.len());
            for i in 0..self.sums.len() {
                sums.push(
                    row.try_get::<Option<i64>>("", &format!("s{i}"))?
                        .unwrap_or(0),
                );
            }
            groups.push(Group { keys, count, sums });
        }
        Ok(groups)
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

/// The answer the caller gets: exact, or with the canonical table's withheld cells suppressed.
fn answer(
    access: &Access,
    mode: Aggregates,
    groups: Vec<Group>,
    medians: &HashMap<Vec<Cell>, Median>,
    sums: usize,
    withheld: &std::collections::HashSet<Vec<Cell>>,
) -> Answer {
    use crate::policy::suppression;
    let threshold = access.suppression_threshold();
    let suppressed = mode == Aggregates::Suppressed;
    // A median over fewer values than the threshold is as disclosive as a small count: with one
    // value it is that value.
    let median = |keys: &[Cell]| {
        medians
            .get(keys)
            .filter(|m| !suppressed || m.over >= threshold)
            .map(|m| m.value)
    };
    match mode {
        Aggregates::Suppressed => {
            suppression::suppressed(groups, median, sums, threshold, withheld)
        }
        _ => suppression::exact(groups, median, sums),
    }
}

/// For suppressed answers: the withheld cells of the canonical table (all rows, no filter), from
/// `unfiltered`, a grouped query over the same dimensions. Exact answers withhold nothing.
async fn withheld<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    mode: Aggregates,
    unfiltered: GroupedQuery,
) -> Result<std::collections::HashSet<Vec<Cell>>> {
    if mode != Aggregates::Suppressed {
        return Ok(Default::default());
    }
    let cells = unfiltered.groups(db).await?;
    Ok(crate::policy::suppression::withheld_cells(
        &cells,
        access.suppression_threshold(),
    ))
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
    type Dimension: async_graphql::resolver_utils::EnumType;

    /// A dimension's SQL expression and the type of its values.
    fn dimension(dim: Self::Dimension) -> (SimpleExpr, DimKind);

    /// Joins the grouped query needs for these dimensions.
    fn join(_select: &mut SelectStatement, _dims: &[Self::Dimension]) {}

    /// The metrics summed per group.
    fn sums() -> Vec<SimpleExpr> {
        Vec::new()
    }

    /// The metric whose median is reported per group.
    fn median() -> Option<SimpleExpr> {
        None
    }

    /// The grouped query over the rows matching `cond`.
    fn grouped(cond: Condition, group_by: &[Self::Dimension]) -> GroupedQuery {
        let mut query = GroupedQuery::new(Self::default(), cond);
        Self::join(&mut query.select, group_by);
        query.dims = group_by.iter().map(|d| Self::dimension(*d)).collect();
        query.sums = Self::sums();
        query
    }
}

/// Counts, sums and medians grouped by the given dimensions, computed in the database over every
/// row matching the filter, answered as the caller's policy allows: exact, with small cells
/// suppressed, or FORBIDDEN.
pub(crate) async fn stats<E, C>(
    db: &C,
    access: &Access,
    filter: Option<&E::Filter>,
    group_by: &[E::Dimension],
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
    let query = E::grouped(cond, group_by);
    let groups = query.groups(db).await?;
    access.touched(
        E::KIND,
        E::KIND.possible_owners().iter().copied(),
        groups.len(),
    );
    let medians = match E::median() {
        Some(metric) => query.medians(db, metric).await?,
        None => HashMap::new(),
    };
    let withheld = withheld(db, access, mode, E::grouped(Condition::all(), group_by)).await?;
    Ok(answer(
        access,
        mode,
        groups,
        &medians,
        query.sums.len(),
        &withheld,
    ))
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
