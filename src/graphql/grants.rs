//! Time-boxed grants in the API: oversight grants one role rows of another agency's entity for a
//! stated reason and a window; `me.grants` and `accessGrants` show them.

use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{Role, access_grant};

use super::args::row_id;
use super::context::request;
use super::errors::ResultExt;
use crate::store::grants::{self, NewGrant};

/// A grant: `role` may read rows of `entity` matching `rowFilter` from `startsAt` until `endsAt`.
#[derive(SimpleObject)]
pub(crate) struct AccessGrant {
    pub id: ID,
    pub role: Role,
    /// "trace", "seizure", "training" or "fundingAward".
    pub entity: String,
    /// The row condition as JSON in the form of the entity's filter input; null for every row.
    pub row_filter: Option<String>,
    /// The MOU, case or other reason.
    pub reason: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why the grant opens nothing although it is in force: its stored row filter no longer
    /// compiles against the entity's filter. Null when it applies as made.
    pub problem: Option<String>,
}

impl From<access_grant::Model> for AccessGrant {
    fn from(g: access_grant::Model) -> Self {
        AccessGrant {
            problem: grants::problem(&g),
            id: ID(g.id.to_string()),
            role: g.grantee_role,
            entity: g.entity,
            row_filter: g.row_filter,
            reason: g.reason,
            starts_at: g.starts_at,
            ends_at: g.ends_at,
            granted_by: g.granted_by,
            granted_at: g.granted_at,
            revoked_at: g.revoked_at,
        }
    }
}

#[derive(Default)]
pub(crate) struct GrantQuery;

#[Object]
impl GrantQuery {
    /// Grants: oversight sees all, an agency the ones made to its role.
    async fn access_grants(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(true)")] in_force_only: Option<bool>,
    ) -> async_graphql::Result<Vec<AccessGrant>> {
        let r = request(ctx)?;
        let rows = grants::list(&r.db, &r.access, in_force_only.unwrap_or(true))
            .await
            .gql()?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub(crate) struct GrantMutation;

#[Object]
impl GrantMutation {
    /// Oversight only: lets a role read rows of another agency's entity for a window.
    #[graphql(visible = "super::visibility::mutation::grant_access")]
    async fn grant_access(
        &self,
        ctx: &Context<'_>,
        input: NewGrant,
    ) -> async_graphql::Result<AccessGrant> {
        let r = request(ctx)?;
        let event = r.write_event("grantAccess", crate::policy::EntityKind::Trace);
        // Whatever the outcome: a failure, or a request abandoned, after the commit still changed
        // the grants.
        let _changing = r.grants_changing();
        let made = grants::create(&r.db, &r.access, input, event).await;
        Ok(made.gql()?.into())
    }

    /// Oversight only: ends a grant at once.
    #[graphql(visible = "super::visibility::mutation::revoke_grant")]
    async fn revoke_grant(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<AccessGrant> {
        let r = request(ctx)?;
        let event = r.write_event("revokeGrant", crate::policy::EntityKind::Trace);
        let _changing = r.grants_changing();
        let revoked = grants::revoke(&r.db, &r.access, row_id(&id)?, event).await;
        Ok(revoked.gql()?.into())
    }
}
