//! What every entity's door shares. Each entity states what it is once, in its descriptor (the
//! [`Described`] and [`Owned`] impls in its module): its kind, fields (which a policy may hide and
//! how the store blanks each), owner column, natural key, order keys and filter. From that, the
//! functions here give keyset pages, lookups by id, by natural key and by parent, each scoped to the
//! caller's rows, recorded in the request's trail, and masked before they leave the store; and the
//! policy's validation, the API's guards and introspection read the same fields.

use std::collections::HashMap;

use entity::Agency;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::filters::Nested;
use super::page::{KeyKind, KeyValue, Merge, Page, PageArgs, SortKey, keyset_page};
use super::scope::{check_depth, combine, owned_rows, reachable_owners, with_grants};
use crate::error::Result;
use crate::policy::{Access, EntityKind};

/// One field of an entity's API type, as the store knows it.
pub(crate) struct Field<M: 'static> {
    /// The field's name in the API and in the policy.
    pub name: &'static str,
    /// How the store blanks the field for a caller who may not read it; `None` for a field no
    /// policy may hide (the API filters, sorts or groups by it, or it is never null).
    pub blank: Option<fn(&mut M)>,
    /// For an edge, the entity whose rows it leads to.
    pub leads_to: Option<EntityKind>,
}

impl<M> Field<M> {
    /// A field every reader of the row sees.
    pub(crate) const fn shown(name: &'static str) -> Field<M> {
        Field {
            name,
            blank: None,
            leads_to: None,
        }
    }

    /// A field a policy may hide: the store blanks it with `blank`, and the API answers `null`
    /// with FORBIDDEN.
    pub(crate) const fn hideable(name: &'static str, blank: fn(&mut M)) -> Field<M> {
        Field {
            name,
            blank: Some(blank),
            leads_to: None,
        }
    }

    /// A field leading to the rows of another entity, read through that entity's door.
    pub(crate) const fn edge(name: &'static str, to: EntityKind) -> Field<M> {
        Field {
            name,
            blank: None,
            leads_to: Some(to),
        }
    }
}

/// An entity's descriptor: its kind and every field of its API type.
pub(crate) trait Described {
    type Row: 'static;
    const KIND: EntityKind;
    const FIELDS: &'static [Field<Self::Row>];

    /// The row with the fields the caller may not read blanked.
    fn mask(access: &Access, mut row: Self::Row) -> Self::Row {
        for field in Self::FIELDS {
            if let Some(blank) = field.blank
                && !access.can_read_field(Self::KIND, field.name)
            {
                blank(&mut row);
            }
        }
        row
    }
}

/// A column an entity can be ordered by: its SQL expression, how it compares, and a row's value
/// of it (carried in the cursor).
pub(crate) struct OrderKey<M> {
    pub expr: SimpleExpr,
    pub kind: KeyKind,
    pub value: fn(&M) -> KeyValue,
}

/// What the door reads of every owned row: its id and the agency owning it.
pub(crate) trait Row {
    fn id(&self) -> i64;
    fn owner(&self) -> Agency;
}

macro_rules! rows {
    ($($model:path),*) => {
        $(impl Row for $model {
            fn id(&self) -> i64 {
                self.id
            }
            fn owner(&self) -> Agency {
                self.owner_agency
            }
        })*
    };
}

rows!(
    entity::trace::Model,
    entity::seizure::Model,
    entity::training_event::Model,
    entity::funding_award::Model,
    entity::firearm::Model
);

/// An entity owned by an agency, behind the door: the rest of its descriptor.
pub(crate) trait Owned:
    EntityTrait<Model: Row> + Described<Row = <Self as EntityTrait>::Model>
{
    /// The filter input the entity's lists take.
    type Filter: Nested;
    /// The fields its lists can be ordered by.
    type OrderField: Copy;
    const ID: Self::Column;
    /// The agency owning a row.
    const OWNER: Self::Column;
    /// For funding awards, the agency implementing a row (read by roles with `implementing` rows).
    const IMPLEMENTING: Option<Self::Column> = None;
    /// The natural key, unique per row.
    const NATURAL_KEY: Self::Column;

    /// The SQL condition of a filter's own fields (its `and`, `or` and `not` aside).
    fn criteria(filter: &Self::Filter) -> Result<Condition>;
    fn order_key(field: Self::OrderField) -> OrderKey<Self::Model>;

    /// The rows the caller may read: its role's rows, widened by the grants in force. The
    /// agencies whose rows the read could reach are recorded as the owners it touched, whether or
    /// not any row comes back: an empty answer (no purpose stated, a filter matching nothing) is
    /// still an access to their data, which they see in the audit trail.
    fn visible(access: &Access) -> Result<Condition> {
        let rows = with_grants(
            access,
            Self::KIND,
            owned_rows(access, Self::KIND, Self::OWNER, Self::IMPLEMENTING),
        )?;
        access.touched(Self::KIND, reachable_owners(access, Self::KIND), 0);
        Ok(rows)
    }

    /// The rows the caller may read, written for a statement that names its rows by id (a
    /// DataLoader batch): the same rows as [`Owned::visible`], in a form suited to probing a few
    /// ids rather than reading a whole slice.
    fn visible_by_ids(access: &Access) -> Result<Condition> {
        Self::visible(access)
    }

    /// How a page of `filter`'s rows in `order` (then by id) can be read as one ordered index
    /// range per value of a list the filter holds a column to, merged (see `page::Merge`): only
    /// when an index leads with that column and then yields exactly that order. `None`: one range,
    /// sorted when no index yields the order.
    fn merge(_filter: &Self::Filter, _order: &[(Self::OrderField, bool)]) -> Option<Merge> {
        None
    }

    /// The SQL condition of a filter, `and`, `or` and `not` included.
    fn condition(filter: &Self::Filter) -> Result<Condition> {
        condition_at::<Self>(filter, 0)
    }

    /// The primary key column, qualified.
    fn id_expr() -> SimpleExpr {
        Expr::col((Self::default(), Self::ID))
    }
}

fn condition_at<E: Owned>(filter: &E::Filter, depth: usize) -> Result<Condition> {
    check_depth(depth)?;
    let (and, or, not) = filter.nested();
    combine(E::criteria(filter)?, and, or, not, depth, condition_at::<E>)
}

/// Records rows read in the request's trail and masks them.
fn seen<E: Owned>(access: &Access, rows: Vec<E::Model>) -> Vec<E::Model> {
    access.touched(E::KIND, rows.iter().map(Row::owner), rows.len());
    rows.into_iter().map(|m| E::mask(access, m)).collect()
}

/// A page of the rows the caller may read, matching `filter`, in `order` (each key with whether it
/// descends) and then by id.
pub(crate) async fn list<E, C>(
    db: &C,
    access: &Access,
    filter: Option<&E::Filter>,
    order: &[(E::OrderField, bool)],
    args: &PageArgs,
) -> Result<Page<E::Model>>
where
    E: Owned,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let mut select = E::find().filter(E::visible(access)?);
    let mut merge = None;
    if let Some(filter) = filter {
        select = select.filter(E::condition(filter)?);
        merge = E::merge(filter, order);
    }
    let order: Vec<(OrderKey<E::Model>, bool)> = order
        .iter()
        .map(|(field, descending)| (E::order_key(*field), *descending))
        .collect();
    let mut keys: Vec<SortKey> = order
        .iter()
        .map(|(key, descending)| SortKey::new(key.expr.clone(), key.kind, *descending))
        .collect();
    keys.push(SortKey::new(E::id_expr(), KeyKind::Int, false));
    let key_of = |m: &E::Model| {
        let mut values: Vec<KeyValue> = order.iter().map(|(key, _)| (key.value)(m)).collect();
        values.push(KeyValue::Int(m.id()));
        values
    };
    let page = keyset_page(db, select, &keys, args, merge, key_of).await?;
    access.touched(
        E::KIND,
        page.rows.iter().map(|(_, m)| m.owner()),
        page.rows.len(),
    );
    Ok(page.map(|m| E::mask(access, m)))
}

/// One row by id: `None` when it does not exist or is outside the caller's rows.
pub(crate) async fn get<E, C>(db: &C, access: &Access, id: i64) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    one::<E, _>(db, access, E::ID.eq(id)).await
}

/// One row by id when it matches `filter` (as the entity's list filters): `None` when it does
/// not exist, does not match, or is outside the caller's rows. What a subscription delivers.
pub(crate) async fn get_matching<E, C>(
    db: &C,
    access: &Access,
    id: i64,
    filter: Option<&E::Filter>,
) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let Some(filter) = filter else {
        return get::<E, _>(db, access, id).await;
    };
    let found = E::find()
        .filter(E::ID.eq(id))
        .filter(E::condition(filter)?)
        .filter(E::visible(access)?)
        .one(db)
        .await?;
    Ok(seen::<E>(access, found.into_iter().collect()).pop())
}

/// One row by its natural key: `None` when it does not exist or is outside the caller's rows.
/// Natural keys are unique per owning agency, so the caller's own agency's record comes first;
/// failing that, the readable record with the lowest id. The API reads back what a write
/// stored with `written_by_key`; the store's tests read every path.
#[cfg(test)]
pub(crate) async fn by_key<E, C>(db: &C, access: &Access, key: &str) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    if let Some(agency) = access.agency() {
        let own = sea_orm::sea_query::ExprTrait::and(E::NATURAL_KEY.eq(key), E::OWNER.eq(agency));
        if let Some(found) = one::<E, _>(db, access, own).await? {
            return Ok(Some(found));
        }
    }
    one::<E, _>(db, access, E::NATURAL_KEY.eq(key)).await
}

/// The record the caller has just written (found by its natural key), as the write returns it:
/// among its own agency's rows, so reading it back needs no stated purpose and withholds nothing.
pub(crate) async fn written_by_key<E, C>(
    db: &C,
    access: &Access,
    key: &str,
) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    written::<E, _>(db, access, E::NATURAL_KEY.eq(key)).await
}

/// The record the caller has just changed (found by its id), as the write returns it.
pub(crate) async fn written_by_id<E, C>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    written::<E, _>(db, access, E::ID.eq(id)).await
}

async fn written<E, C>(db: &C, access: &Access, condition: SimpleExpr) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let Some(agency) = access.agency() else {
        return Ok(None);
    };
    let found = E::find()
        .filter(condition)
        .filter(E::OWNER.eq(agency))
        .filter(E::visible(&access.for_write())?)
        .one(db)
        .await?;
    Ok(seen::<E>(access, found.into_iter().collect()).pop())
}

/// The one row matching `condition` among the caller's rows, if any.
async fn one<E, C>(db: &C, access: &Access, condition: SimpleExpr) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let found = E::find()
        .filter(condition)
        .filter(E::visible(access)?)
        .order_by_asc(E::ID)
        .one(db)
        .await?;
    Ok(seen::<E>(access, found.into_iter().collect()).pop())
}

/// The caller's rows of `E` matching `condition`, in `order` and then by id, recorded and masked;
/// none when the role reads no rows of the entity (an edge simply leads nowhere). `scope` is the
/// caller's `visible` or `visible_by_ids`.
async fn scoped<E, C>(
    db: &C,
    access: &Access,
    scope: Result<Condition>,
    condition: SimpleExpr,
    order: Option<E::Column>,
) -> Result<Vec<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let Ok(scope) = scope else {
        return Ok(Vec::new());
    };
    let mut select = E::find().filter(scope).filter(condition);
    if let Some(order) = order {
        select = select.order_by_asc(order);
    }
    let rows = select.order_by_asc(E::ID).all(db).await?;
    Ok(seen::<E>(access, rows))
}

/// Rows by id, for DataLoader batches; ids outside the caller's rows are absent, and a role that
/// reads no rows of the entity gets none.
pub(crate) async fn by_ids<E, C>(
    db: &C,
    access: &Access,
    ids: &[i64],
) -> Result<HashMap<i64, E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let condition = E::ID.is_in(ids.iter().copied());
    let rows = scoped::<E, _>(db, access, E::visible_by_ids(access), condition, None).await?;
    Ok(rows.into_iter().map(|m| (m.id(), m)).collect())
}

/// The most ids one statement's `IN` list takes: a whole DataLoader level (the largest page,
/// squared) fits one statement, and a level with its linked records stays far below the bind
/// parameter limits (SQLite 32,766; PostgreSQL 65,535) however many records are linked.
pub(crate) const ID_CHUNK: usize = (super::page::MAX_PAGE_SIZE as usize).pow(2);

/// The readable rows of each parent, for an edge whose rows name their parent in `parent`
/// (`parent_of` reads it from a row), ordered by `order` and then id. A role that reads no rows of
/// the entity gets none.
pub(crate) async fn by_parent<E, C>(
    db: &C,
    access: &Access,
    parent: E::Column,
    parent_of: fn(&E::Model) -> Option<i64>,
    order: E::Column,
    parent_ids: &[i64],
) -> Result<HashMap<i64, Vec<E::Model>>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let mut out: HashMap<i64, Vec<E::Model>> = HashMap::new();
    // Every row of a parent is in its parent's chunk, so each parent's rows keep their order.
    for chunk in parent_ids.chunks(ID_CHUNK) {
        let condition = parent.is_in(chunk.iter().copied());
        for m in scoped::<E, _>(db, access, E::visible(access), condition, Some(order)).await? {
            if let Some(p) = parent_of(&m) {
                out.entry(p).or_default().push(m);
            }
        }
    }
    Ok(out)
}

/// The readable rows of `E` across the link table `L`, in one statement: each `L` row matching
/// `links`, with the `E` row it leads to when the caller may read it (in `E`'s id order). Each row
/// is recorded and masked once however many links lead to it; a role that reads no rows of `E`
/// gets none.
pub(crate) async fn across<L, E, C>(
    db: &C,
    access: &Access,
    links: SimpleExpr,
) -> Result<Vec<(L::Model, E::Model)>>
where
    L: EntityTrait + sea_orm::Related<E>,
    E: Owned,
    E::Model: Clone,
    C: ConnectionTrait,
{
    let Ok(scope) = E::visible_by_ids(access) else {
        return Ok(Vec::new());
    };
    let found = L::find()
        .filter(links)
        .find_also_related(E::default())
        .filter(scope)
        .order_by_asc(E::id_expr())
        .all(db)
        .await?;
    let mut unique: Vec<E::Model> = Vec::new();
    for (_, row) in &found {
        if let Some(row) = row
            && unique.last().is_none_or(|last| last.id() != row.id())
        {
            unique.push(row.clone());
        }
    }
    let masked: HashMap<i64, E::Model> = seen::<E>(access, unique)
        .into_iter()
        .map(|m| (m.id(), m))
        .collect();
    Ok(found
        .into_iter()
        .filter_map(|(link, row)| {
            let row = masked.get(&row?.id())?.clone();
            Some((link, row))
        })
        .collect())
}

/// Every row the caller may read that matches a filter, in a list's order, read a chunk at a time
/// by keyset (for exports): the same rows, order and masking as the pages of [`list`], without a
/// page size limit and without holding more than one chunk.
pub(crate) struct Scan<E: Owned> {
    /// The caller's rows and the filter's condition, compiled once.
    condition: Condition,
    merge: Option<Merge>,
    order: Vec<(E::OrderField, bool)>,
    /// The key values of the last row read; `None` before the first chunk.
    after: Option<Vec<KeyValue>>,
    done: bool,
}

impl<E> Scan<E>
where
    E: Owned,
    E::Model: Sync,
{
    /// The scan of `filter`'s rows in `order` (then by id). FORBIDDEN when the role reads no rows
    /// of the entity; an invalid filter is refused as the list refuses it. Without a stated
    /// purpose, another agency's rows are withheld as in [`list`] (the access's trail says so).
    pub(crate) fn new(
        access: &Access,
        filter: Option<&E::Filter>,
        order: &[(E::OrderField, bool)],
    ) -> Result<Scan<E>> {
        let mut condition = Condition::all().add(E::visible(access)?);
        let mut merge = None;
        if let Some(filter) = filter {
            condition = condition.add(E::condition(filter)?);
            merge = E::merge(filter, order);
        }
        Ok(Scan {
            condition,
            merge,
            order: order.to_vec(),
            after: None,
            done: false,
        })
    }

    /// The next chunk of at most `size` rows, recorded in the trail and masked; empty once every
    /// row has been read.
    pub(crate) async fn next_chunk<C: ConnectionTrait>(
        &mut self,
        db: &C,
        access: &Access,
        size: u64,
    ) -> Result<Vec<E::Model>> {
        if self.done {
            return Ok(Vec::new());
        }
        let order: Vec<(OrderKey<E::Model>, bool)> = self
            .order
            .iter()
            .map(|(field, descending)| (E::order_key(*field), *descending))
            .collect();
        let mut keys: Vec<SortKey> = order
            .iter()
            .map(|(key, descending)| SortKey::new(key.expr.clone(), key.kind, *descending))
            .collect();
        keys.push(SortKey::new(E::id_expr(), KeyKind::Int, false));
        let select = E::find().filter(self.condition.clone());
        let rows = super::page::ordered_rows(
            db,
            select,
            &keys,
            self.after.as_deref(),
            size.max(1),
            self.merge.clone(),
        )
        .await?;
        match rows.last() {
            Some(last) if rows.len() as u64 >= size.max(1) => {
                let mut values: Vec<KeyValue> =
                    order.iter().map(|(key, _)| (key.value)(last)).collect();
                values.push(KeyValue::Int(last.id()));
                self.after = Some(values);
            }
            _ => self.done = true,
        }
        Ok(seen::<E>(access, rows))
    }
}
