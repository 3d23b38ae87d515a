//! Keyset pagination: a stable order over sort keys that always ends in the primary key, and opaque
//! cursors holding the last row's key values. No OFFSET scans.

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query, SimpleExpr, UnionType};
use sea_orm::{
    Condition, ConnectionTrait, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Value,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest page a caller may ask for.
pub(crate) const MAX_PAGE_SIZE: i32 = 100;

/// One value of a row's sort key, as carried in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum KeyValue {
    Int(i64),
    Text(String),
}

/// How a sort key's values compare in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Int,
    Date,
    Text,
}

/// One column (or expression) of the order.
#[derive(Debug, Clone)]
pub(crate) struct SortKey {
    pub expr: SimpleExpr,
    pub kind: KeyKind,
    pub descending: bool,
}

impl SortKey {
    pub(crate) fn new(expr: impl Into<SimpleExpr>, kind: KeyKind, descending: bool) -> SortKey {
        SortKey {
            expr: expr.into(),
            kind,
            descending,
        }
    }
}

/// What a connection asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct PageArgs {
    pub first: Option<i32>,
    /// The key values of the row after which the page starts.
    pub after: Option<Vec<KeyValue>>,
    /// The caller did not ask for the total, so it is not counted (the page's `total` is 0).
    pub without_total: bool,
}

impl PageArgs {
    fn limit(&self) -> Result<u64> {
        match self.first {
            None => Ok(20),
            Some(n) if n < 0 => Err(Error::invalid("first", "must not be negative")),
            Some(n) if n > MAX_PAGE_SIZE => Err(Error::invalid(
                "first",
                format!("must be at most {MAX_PAGE_SIZE}"),
            )),
            Some(n) => Ok(n as u64),
        }
    }
}

/// A page of rows, each with the key values its cursor carries.
#[derive(Debug, Clone)]
pub(crate) struct Page<M> {
    pub rows: Vec<(Vec<KeyValue>, M)>,
    pub has_next: bool,
    pub has_previous: bool,
    /// The rows matching across all pages; 0 when the page was read `without_total`.
    pub total: i64,
}

impl<M> Page<M> {
    pub(crate) fn map<N>(self, mut f: impl FnMut(M) -> N) -> Page<N> {
        Page {
            rows: self.rows.into_iter().map(|(k, m)| (k, f(m))).collect(),
            has_next: self.has_next,
            has_previous: self.has_previous,
            total: self.total,
        }
    }
}

fn to_value(kind: KeyKind, value: &KeyValue) -> Result<Value> {
    let bad = || Error::invalid("after", "is not a cursor of this list and order");
    Ok(match (kind, value) {
        (KeyKind::Int, KeyValue::Int(i)) => Value::BigInt(Some(*i)),
        (KeyKind::Text, KeyValue::Text(s)) => Value::String(Some(s.clone())),
        (KeyKind::Date, KeyValue::Text(s)) => {
            let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad())?;
            Value::ChronoDate(Some(date))
        }
        _ => return Err(bad()),
    })
}

/// The rows strictly after `after` in the order of `keys`.
fn after_condition(keys: &[SortKey], after: &[KeyValue]) -> Result<Condition> {
    if after.len() != keys.len() {
        return Err(Error::invalid(
            "after",
            "is not a cursor of this list and order",
        ));
    }
    let values = keys
        .iter()
        .zip(after)
        .map(|(k, v)| to_value(k.kind, v))
        .collect::<Result<Vec<_>>>()?;
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(Expr::expr(keys[j].expr.clone()).eq(values[j].clone()));
        }
        let key = Expr::expr(keys[i].expr.clone());
        all = all.add(if keys[i].descending {
            key.lt(values[i].clone())
        } else {
            key.gt(values[i].clone())
        });
        any = any.add(all);
    }
    Ok(any)
}

/// The most values of a list a page is merged over (see [`Merge`]); a longer list is read as one
/// range and sorted.
pub(crate) const MAX_MERGED: usize = 32;

/// A page to read as one ordered index range per value of a column, merged: the filter holds the
/// column to `values` (an `IN` list), and an index leads with the column and then yields the
/// page's order. Each range stops after a page of rows, so a page costs a few index ranges of a
/// page each instead of sorting every matching row.
#[derive(Debug, Clone)]
pub(crate) struct Merge {
    pub column: SimpleExpr,
    pub values: Vec<Value>,
}

/// Runs a keyset-paginated query: `select` already carries the caller's scope and the filter;
/// `keys` must end in a unique key. `key_of` reads a row's key values for its cursor. With
/// `merge`, the page is read per value of the merge column and merged (see [`Merge`]): the same
/// rows in the same order, since each value's first rows after the cursor hold the page's.
pub(crate) async fn keyset_page<E, C>(
    db: &C,
    select: Select<E>,
    keys: &[SortKey],
    args: &PageArgs,
    merge: Option<Merge>,
    key_of: impl Fn(&E::Model) -> Vec<KeyValue>,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let limit = args.limit()?;
    let total = if args.without_total {
        0
    } else {
        select.clone().count(db).await? as i64
    };
    let mut models =
        ordered_rows(db, select, keys, args.after.as_deref(), limit + 1, merge).await?;
    let has_next = models.len() as u64 > limit;
    models.truncate(limit as usize);
    Ok(Page {
        rows: models.into_iter().map(|m| (key_of(&m), m)).collect(),
        has_next,
        has_previous: args.after.is_some(),
        total,
    })
}

/// Up to `limit` rows of `select` strictly after `after` in the order of `keys` (which must end in
/// a unique key), read as one range or merged per value (see [`Merge`]): a page's rows, or an
/// export's next chunk.
pub(crate) async fn ordered_rows<E, C>(
    db: &C,
    select: Select<E>,
    keys: &[SortKey],
    after: Option<&[KeyValue]>,
    limit: u64,
    merge: Option<Merge>,
) -> Result<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let mut query = select;
    if let Some(after) = after {
        query = query.filter(after_condition(keys, after)?);
    }
    let ordered = |mut query: Select<E>| {
        for key in keys {
            let order = if key.descending {
                Order::Desc
            } else {
                Order::Asc
            };
            query = query.order_by(key.expr.clone(), order);
        }
        query.limit(limit)
    };
    let models = match merge.filter(|m| (2..=MAX_MERGED).contains(&m.values.len())) {
        None => ordered(query).all(db).await?,
        Some(merge) => {
            // One ordered range per value, each under its own alias, then the page over their
            // union under the entity's name, so that the order keys name its columns.
            let mut union = None;
            for (i, value) in merge.values.into_iter().enumerate() {
                let part = ordered(
                    query
                        .clone()
                        .filter(Expr::expr(merge.column.clone()).eq(value)),
                )
                .into_query();
                let part = Query::select()
                    .column(Asterisk)
                    .from_subquery(part, Alias::new(format!("part_{i}")))
                    .to_owned();
                union = Some(match union {
                    None => part,
                    Some(mut union) => {
                        sea_orm::sea_query::SelectStatement::union(
                            &mut union,
                            UnionType::All,
                            part,
                        );
                        union
                    }
                });
            }
            let Some(union) = union else {
                return Err(anyhow::anyhow!("a merged page needs at least one value").into());
            };
            let mut page = Query::select();
            page.column(Asterisk)
                .from_subquery(union, Alias::new(E::default().table_name()));
            for key in keys {
                let order = if key.descending {
                    Order::Desc
                } else {
                    Order::Asc
                };
                page.order_by_expr(key.expr.clone(), order);
            }
            page.limit(limit);
            let statement = db.get_database_backend().build(&page);
            E::find().from_raw_sql(statement).all(db).await?
        }
    };
    Ok(models)
}
