//! What every owned entity's door shares: keyset pages and lookups by id, each scoped to the
//! caller's rows, recorded in the request's trail, and masked before they leave the store.

use entity::Agency;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::page::{KeyKind, KeyValue, Page, PageArgs, SortKey, keyset_page};
use crate::error::Result;
use crate::policy::{Access, EntityKind};

/// A column an entity can be ordered by: its SQL expression, how it compares, and a row's value
/// of it (carried in the cursor).
pub struct OrderKey<M> {
    pub expr: SimpleExpr,
    pub kind: KeyKind,
    pub value: fn(&M) -> KeyValue,
}

/// An entity owned by an agency, behind the door.
pub trait Owned: EntityTrait {
    const KIND: EntityKind;
    /// The rows the caller may read.
    fn visible(access: &Access) -> Result<Condition>;
    /// The row with the fields the caller may not read blanked.
    fn mask(access: &Access, model: Self::Model) -> Self::Model;
    fn owner(model: &Self::Model) -> Agency;
    fn id(model: &Self::Model) -> i64;
    /// The primary key column, qualified.
    fn id_expr() -> SimpleExpr;
}

/// A page of the rows the caller may read, matching `filter`, in `order` (each key with whether it
/// descends) and then by id.
pub async fn list<E, C>(
    db: &C,
    access: &Access,
    filter: Option<Condition>,
    order: &[(OrderKey<E::Model>, bool)],
    args: &PageArgs,
) -> Result<Page<E::Model>>
where
    E: Owned,
    E::Model: Sync,
    C: ConnectionTrait,
{
    let mut select = E::find().filter(E::visible(access)?);
    if let Some(filter) = filter {
        select = select.filter(filter);
    }
    let mut keys: Vec<SortKey> = order
        .iter()
        .map(|(key, descending)| SortKey::new(key.expr.clone(), key.kind, *descending))
        .collect();
    keys.push(SortKey::new(E::id_expr(), KeyKind::Int, false));
    let key_of = |m: &E::Model| {
        let mut values: Vec<KeyValue> = order.iter().map(|(key, _)| (key.value)(m)).collect();
        values.push(KeyValue::Int(E::id(m)));
        values
    };
    let page = keyset_page(db, select, &keys, args, key_of).await?;
    access.touched(
        E::KIND,
        page.rows.iter().map(|(_, m)| E::owner(m)),
        page.rows.len(),
    );
    Ok(page.map(|m| E::mask(access, m)))
}

/// One row by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<E, C>(db: &C, access: &Access, id: i64) -> Result<Option<E::Model>>
where
    E: Owned,
    C: ConnectionTrait,
{
    let found = E::find()
        .filter(Expr::expr(E::id_expr()).eq(id))
        .filter(E::visible(access)?)
        .one(db)
        .await?;
    access.touched(
        E::KIND,
        found.iter().map(E::owner),
        usize::from(found.is_some()),
    );
    Ok(found.map(|m| E::mask(access, m)))
}
