//! The automatic persisted queries: documents registered by the SHA-256 of their text, in
//! `persisted_query`, so every hub process on the database finds what any of them registered.
//!
//! The table is bounded: a registration that makes it hold more than `limits.persisted_max`
//! documents evicts the least recently used (`last_used_at`, then the oldest `id`). A use writes
//! `last_used_at` only when the stored value is more than [`TOUCH_AFTER`] old, so a popular
//! document costs one write a minute rather than one per request; recency is kept at that
//! resolution. Two processes registering at once may each evict, leaving the table a few rows
//! under the bound, never over it for long.
//!
//! Documents are not agency data: no policy applies to them, and reading one is not an access to
//! be audited (the operation it runs is, as any other).

use chrono::{DateTime, Utc};
use entity::persisted_query as stored;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::error::Result;

/// How old `last_used_at` may be before a use writes it again.
pub(crate) const TOUCH_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// The document registered under `hash` (lower-case hex SHA-256), marking it used. A row whose
/// text does not hash to its key (changed in the database) is treated as absent.
pub(crate) async fn find(db: &impl ConnectionTrait, hash: &str) -> Result<Option<String>> {
    let Some(row) = stored::Entity::find()
        .filter(stored::Column::Hash.eq(hash))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if crate::audit::document_hash(&row.document) != row.hash {
        tracing::warn!(
            id = row.id,
            "a persisted query's document does not match its hash; ignored"
        );
        return Ok(None);
    }
    let now = Utc::now();
    if now.signed_duration_since(row.last_used_at) > TOUCH_AFTER
        && let Err(error) = touch(db, row.id, now).await
    {
        // Recency is a hint for eviction; a failed write must not fail the request.
        tracing::warn!(%error, "cannot mark a persisted query as used");
    }
    Ok(Some(row.document))
}

async fn touch(db: &impl ConnectionTrait, id: i64, now: DateTime<Utc>) -> Result<()> {
    stored::Entity::update_many()
        .col_expr(stored::Column::LastUsedAt, Expr::value(now))
        .filter(stored::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Registers `document` under its `hash` (already checked to be its SHA-256), or marks it used
/// when it is registered already; then evicts the least recently used documents beyond `max`.
pub(crate) async fn register(
    db: &impl ConnectionTrait,
    hash: &str,
    document: &str,
    max: usize,
) -> Result<()> {
    let now = Utc::now();
    let row = stored::ActiveModel {
        id: ActiveValue::NotSet,
        hash: ActiveValue::Set(hash.to_owned()),
        document: ActiveValue::Set(document.to_owned()),
        created_at: ActiveValue::Set(now),
        last_used_at: ActiveValue::Set(now),
    };
    stored::Entity::insert(row)
        .on_conflict(
            OnConflict::column(stored::Column::Hash)
                .update_column(stored::Column::LastUsedAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    evict(db, max).await?;
    Ok(())
}

/// Deletes the least recently used documents beyond `max`; returns how many went.
pub(crate) async fn evict(db: &impl ConnectionTrait, max: usize) -> Result<u64> {
    let count = stored::Entity::find().count(db).await?;
    let max = u64::try_from(max).unwrap_or(u64::MAX);
    if count <= max {
        return Ok(0);
    }
    let oldest: Vec<i64> = stored::Entity::find()
        .select_only()
        .column(stored::Column::Id)
        .order_by_asc(stored::Column::LastUsedAt)
        .order_by_asc(stored::Column::Id)
        .limit(count - max)
        .into_tuple()
        .all(db)
        .await?;
    let deleted = stored::Entity::delete_many()
        .filter(stored::Column::Id.is_in(oldest))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
