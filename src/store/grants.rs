//! Time-boxed grants, at the door: only oversight grants and revokes; a role sees the grants made
//! to it. Requests take the grants in force from `grant_cache`, which every grant and revoke
//! invalidates (in this process at once, in others through the `grants` generation), and which
//! decides by the clock when a grant starts and ends.

use chrono::{DateTime, Utc};
use entity::Role;
use entity::access_grant as grant;
use entity::{funding_award, seizure, trace, training_event};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, NotSet, QueryFilter,
    QueryOrder, Set,
};

use super::door::Owned;
use super::filters::{FundingFilter, SeizureFilter, TraceFilter, TrainingFilter};
use super::scope::parse_filter;
use crate::audit::NewEvent;
use crate::error::{Error, Result};
use crate::policy::{Access, EntityKind, Grant};

/// The entities a grant can open.
pub(crate) const GRANTABLE: [EntityKind; 4] = [
    EntityKind::Trace,
    EntityKind::Seizure,
    EntityKind::Training,
    EntityKind::FundingAward,
];

/// A grant oversight makes: which role may read which rows of an entity, why, and for which
/// window.
#[derive(Debug, Clone, async_graphql::InputObject)]
#[graphql(name = "GrantInput")]
pub(crate) struct NewGrant {
    /// The role that may read: ATF, ICE, CBP or STATE.
    pub role: Role,
    /// "trace", "seizure", "training" or "fundingAward".
    pub entity: String,
    /// A row condition as JSON in the form of the entity's filter input, e.g.
    /// `{"recoveryState": ["MX-SON"]}`; omitted for every row.
    pub row_filter: Option<String>,
    /// The MOU, case or other reason.
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

fn in_force(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(grant::Column::RevokedAt.is_null())
        .add(grant::Column::StartsAt.lte(now))
        .add(grant::Column::EndsAt.gt(now))
}

/// A stored grant as it applies, or why it cannot.
pub(crate) fn compile_stored(g: &grant::Model) -> Result<Grant> {
    let entity = EntityKind::parse(&g.entity)
        .filter(|k| GRANTABLE.contains(k))
        .ok_or_else(|| Error::invalid("entity", format!("'{}' cannot be granted", g.entity)))?;
    let rows = match &g.row_filter {
        Some(text) => Some(compile(
            entity,
            &serde_json::from_str(text)
                .map_err(|e| Error::invalid("rowFilter", format!("not JSON: {e}")))?,
        )?),
        None => None,
    };
    Ok(Grant {
        id: g.id,
        entity,
        rows,
    })
}

/// Why a stored grant opens nothing, for oversight; `None` when it applies as made.
pub(crate) fn problem(g: &grant::Model) -> Option<String> {
    compile_stored(g).err().map(|e| e.to_string())
}

fn oversight_only(access: &Access) -> Result<()> {
    if access.role() != Role::Oversight {
        return Err(Error::Forbidden(
            "only oversight grants and revokes access".into(),
        ));
    }
    Ok(())
}

/// A grant's row filter as the SQL condition the entity's filter input gives it.
fn compile(kind: EntityKind, json: &serde_json::Value) -> Result<Condition> {
    match kind {
        EntityKind::Trace => trace::Entity::condition(&parse_filter::<TraceFilter>(json)?),
        EntityKind::Seizure => seizure::Entity::condition(&parse_filter::<SeizureFilter>(json)?),
        EntityKind::Training => {
            training_event::Entity::condition(&parse_filter::<TrainingFilter>(json)?)
        }
        EntityKind::FundingAward => {
            funding_award::Entity::condition(&parse_filter::<FundingFilter>(json)?)
        }
        EntityKind::Firearm
        | EntityKind::FirearmLink
        | EntityKind::LinkCandidate
        | EntityKind::AuditEvent => Err(Error::invalid("entity", "cannot be granted")),
    }
}

/// Makes a grant (oversight only), recording it in the audit trail in the same transaction.
pub(crate) async fn create(
    db: &DatabaseConnection,
    access: &Access,
    new: NewGrant,
    mut event: NewEvent,
) -> Result<grant::Model> {
    oversight_only(access)?;
    let kind = EntityKind::parse(&new.entity)
        .filter(|k| GRANTABLE.contains(k))
        .ok_or_else(|| {
            Error::invalid(
                "entity",
                "must be one of trace, seizure, training, fundingAward",
            )
        })?;
    if new.role == Role::Oversight {
        return Err(Error::invalid(
            "role",
            "grants go to an agency's role, not to oversight",
        ));
    }
    let reason = new.reason.trim();
    if !(3..=200).contains(&reason.chars().count()) {
        return Err(Error::invalid(
            "reason",
            "name the MOU or case in 3 to 200 characters",
        ));
    }
    if new.ends_at <= new.starts_at {
        return Err(Error::invalid("endsAt", "must be after startsAt"));
    }
    let row_filter = match new
        .row_filter
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| Error::invalid("rowFilter", format!("not JSON: {e}")))?;
            compile(kind, &json)?;
            Some(json.to_string())
        }
        None => None,
    };
    let txn = super::begin_write(db).await?;
    let stored = grant::ActiveModel {
        id: NotSet,
        grantee_role: Set(new.role),
        entity: Set(kind.as_str().to_owned()),
        row_filter: Set(row_filter),
        reason: Set(reason.to_owned()),
        starts_at: Set(new.starts_at),
        ends_at: Set(new.ends_at),
        granted_by: Set(access.caller.subject.clone()),
        granted_at: Set(Utc::now()),
        revoked_at: Set(None),
        revoked_by: Set(None),
    }
    .insert(&txn)
    .await?;
    event.entities = vec!["accessGrant".into(), kind.as_str().into()];
    event.data_owners = kind.possible_owners().to_vec();
    event.rows_returned = 1;
    super::generation::bump(&txn, super::generation::Scope::Grants).await?;
    crate::audit::commit_with(txn, event).await?;
    Ok(stored)
}

/// Revokes a grant (oversight only); it stops working at once.
pub(crate) async fn revoke(
    db: &DatabaseConnection,
    access: &Access,
    id: i64,
    mut event: NewEvent,
) -> Result<grant::Model> {
    oversight_only(access)?;
    let txn = super::begin_write(db).await?;
    let found = grant::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(Error::NotFound)?;
    if found.revoked_at.is_some() {
        return Err(Error::Conflict(format!("grant {id} is already revoked")));
    }
    let mut active: grant::ActiveModel = found.clone().into();
    active.revoked_at = Set(Some(Utc::now()));
    active.revoked_by = Set(Some(access.caller.subject.clone()));
    let revoked = active.update(&txn).await?;
    event.entities = vec!["accessGrant".into(), found.entity.clone()];
    event.data_owners = EntityKind::parse(&found.entity)
        .map(|k| k.possible_owners().to_vec())
        .unwrap_or_default();
    event.rows_returned = 1;
    super::generation::bump(&txn, super::generation::Scope::Grants).await?;
    crate::audit::commit_with(txn, event).await?;
    Ok(revoked)
}

/// The grants the caller may see: all for oversight, its own role's for an agency.
pub(crate) async fn list(
    db: &DatabaseConnection,
    access: &Access,
    in_force_only: bool,
) -> Result<Vec<grant::Model>> {
    let mut select = grant::Entity::find().order_by_desc(grant::Column::Id);
    if access.role() != Role::Oversight {
        select = select.filter(grant::Column::GranteeRole.eq(access.role()));
    }
    if in_force_only {
        select = select.filter(in_force(Utc::now()));
    }
    Ok(select.all(db).await?)
}
