//! The door for writes: a record is changed only by the agency that owns it, and only when its
//! role may write that entity. A record outside the caller's rows answers NOT_FOUND, exactly like
//! one that does not exist.

use entity::{firearm, funding_award, seizure, seizure_firearm, trace, training_event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};

use super::door::Owned;
use super::door::Row;
use super::scope::writer_agency;
use crate::audit::NewEvent;
use crate::error::{Error, Result};
use crate::policy::{Access, EntityKind};

/// Checks that the caller's agency owns a readable row and may write it.
fn check_owner(access: &Access, kind: EntityKind, owner: entity::Agency) -> Result<()> {
    let agency = writer_agency(access, kind)?;
    if owner != agency {
        return Err(Error::Forbidden(format!(
            "{kind} records owned by {owner} can be changed only by {owner}"
        )));
    }
    Ok(())
}

/// Checks the version a client read against the stored one.
pub(crate) fn check_version(kind: EntityKind, stored: i32, expected: i32) -> Result<()> {
    if stored != expected {
        return Err(Error::Conflict(format!(
            "the {kind} was changed since version {expected} (it is now version {stored}); read it again and reapply the change"
        )));
    }
    Ok(())
}

/// A record of the caller's rows, unmasked, for a change by its owner.
async fn owned_for_update<E: Owned, C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<E::Model> {
    writer_agency(access, E::KIND)?;
    let found = E::find()
        .filter(E::ID.eq(id))
        .filter(E::visible(access)?)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    check_owner(access, E::KIND, found.owner())?;
    Ok(found)
}

/// A trace and its firearm, unmasked, for an update by its owner.
pub(crate) async fn trace_for_update<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<(trace::Model, firearm::Model)> {
    writer_agency(access, EntityKind::Trace)?;
    let found = trace::Entity::find_by_id(id)
        .filter(trace::Entity::visible(access)?)
        .find_also_related(firearm::Entity)
        .one(db)
        .await?;
    let (trace, firearm) = match found {
        Some((t, Some(f))) => (t, f),
        _ => return Err(Error::NotFound),
    };
    check_owner(access, EntityKind::Trace, trace.owner_agency)?;
    Ok((trace, firearm))
}

/// A seizure and its firearms, unmasked, for an update by its owner.
pub(crate) async fn seizure_for_update<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<(seizure::Model, Vec<firearm::Model>)> {
    let seizure = owned_for_update::<seizure::Entity, _>(db, access, id).await?;
    let ids: Vec<i64> = seizure_firearm::Entity::find()
        .filter(seizure_firearm::Column::SeizureId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|l| l.firearm_id)
        .collect();
    let firearms = firearm::Entity::find()
        .filter(firearm::Column::Id.is_in(ids))
        .all(db)
        .await?;
    Ok((seizure, firearms))
}

/// A training event and the number of its award, unmasked, for an update by its owner.
pub(crate) async fn training_for_update<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<(training_event::Model, Option<String>)> {
    writer_agency(access, EntityKind::Training)?;
    let (training, award) = training_event::Entity::find_by_id(id)
        .filter(training_event::Entity::visible(access)?)
        .find_also_related(funding_award::Entity)
        .one(db)
        .await?
        .ok_or(Error::NotFound)?;
    check_owner(access, EntityKind::Training, training.owner_agency)?;
    Ok((training, award.map(|a| a.award_number)))
}

/// A funding award, unmasked, for an update by its owner.
pub(crate) async fn award_for_update<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<funding_award::Model> {
    owned_for_update::<funding_award::Entity, _>(db, access, id).await
}

/// Whether the caller's agency already holds a record with this natural key (for refusing a create
/// that would overwrite). Natural keys are unique per owning agency, so another agency's records
/// are never looked at: a create learns nothing about them.
pub(crate) async fn natural_key_taken<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    kind: EntityKind,
    key: &str,
) -> Result<bool> {
    async fn taken<E: Owned, C: ConnectionTrait>(
        db: &C,
        owner: entity::Agency,
        key: &str,
    ) -> Result<bool>
    where
        E::Model: Sync,
    {
        let found = E::find()
            .filter(E::NATURAL_KEY.eq(key))
            .filter(E::OWNER.eq(owner))
            .count(db)
            .await?;
        Ok(found > 0)
    }
    let owner = writer_agency(access, kind)?;
    match kind {
        EntityKind::Trace => taken::<trace::Entity, _>(db, owner, key).await,
        EntityKind::Seizure => taken::<seizure::Entity, _>(db, owner, key).await,
        EntityKind::Training => taken::<training_event::Entity, _>(db, owner, key).await,
        EntityKind::FundingAward => taken::<funding_award::Entity, _>(db, owner, key).await,
        EntityKind::Firearm
        | EntityKind::FirearmLink
        | EntityKind::LinkCandidate
        | EntityKind::AuditEvent => Ok(false),
    }
}

/// Deletes a trace its owner may change, and its firearm record (with its links) when no other
/// trace holds it.
pub(crate) async fn delete_trace(
    db: &DatabaseConnection,
    access: &Access,
    id: i64,
    event: NewEvent,
) -> Result<()> {
    let (trace, _) = trace_for_update(db, access, id).await?;
    let txn = super::begin_write(db).await?;
    trace::Entity::delete_by_id(trace.id).exec(&txn).await?;
    super::links::prune(&txn, &[trace.firearm_id]).await?;
    commit_audited(txn, event).await
}

/// Deletes a seizure its owner may change, with its firearm links, and the firearm records (with
/// their links to other records) no other seizure holds.
pub(crate) async fn delete_seizure(
    db: &DatabaseConnection,
    access: &Access,
    id: i64,
    event: NewEvent,
) -> Result<()> {
    let (seizure, firearms) = seizure_for_update(db, access, id).await?;
    let txn = super::begin_write(db).await?;
    seizure_firearm::Entity::delete_many()
        .filter(seizure_firearm::Column::SeizureId.eq(seizure.id))
        .exec(&txn)
        .await?;
    seizure::Entity::delete_by_id(seizure.id).exec(&txn).await?;
    let held: Vec<i64> = firearms.iter().map(|f| f.id).collect();
    super::links::prune(&txn, &held).await?;
    commit_audited(txn, event).await
}

/// Deletes a training event its owner may change.
pub(crate) async fn delete_training(
    db: &DatabaseConnection,
    access: &Access,
    id: i64,
    event: NewEvent,
) -> Result<()> {
    let (training, _) = training_for_update(db, access, id).await?;
    let txn = super::begin_write(db).await?;
    training_event::Entity::delete_by_id(training.id)
        .exec(&txn)
        .await?;
    commit_audited(txn, event).await
}

/// Deletes a funding award its owner may change; refused while training events name it, since
/// those belong to other records (and possibly other agencies).
pub(crate) async fn delete_award(
    db: &DatabaseConnection,
    access: &Access,
    id: i64,
    event: NewEvent,
) -> Result<()> {
    let award = award_for_update(db, access, id).await?;
    // Counted inside the write transaction, so a training linked meanwhile is not unlinked.
    let txn = super::begin_write(db).await?;
    let funded = training_event::Entity::find()
        .filter(training_event::Column::FundingAwardId.eq(award.id))
        .count(&txn)
        .await?;
    if funded > 0 {
        txn.rollback().await?;
        return Err(Error::Conflict(format!(
            "the award funds {funded} training events; unlink them first"
        )));
    }
    funding_award::Entity::delete_by_id(award.id)
        .exec(&txn)
        .await?;
    commit_audited(txn, event).await
}

/// Records the write's audit event in its transaction, then commits both.
async fn commit_audited(txn: sea_orm::DatabaseTransaction, mut event: NewEvent) -> Result<()> {
    event.rows_returned = 1;
    super::generation::bump(&txn, super::generation::Scope::Records).await?;
    Ok(crate::audit::commit_with(txn, event).await?)
}
