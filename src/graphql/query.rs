//! The query roots, one per entity, merged into `Query`. Resolvers only translate arguments and
//! call the store, which applies the caller's policy.

use async_graphql::{Context, ID, MergedObject, Object};

use super::context::request;
use super::errors::ResultExt;
use super::inputs::*;
use super::stats::{FundingStats, SeizureStats, TraceStats, TrainingStats};
use super::types::{
    AuditEvent, Conn, EntityPermission, Firearm, FundingAward, RowAccess, Seizure, Trace, Training,
    Viewer, connection, page_args,
};
use crate::error::Error;
use crate::policy::{Aggregates, EntityKind, Rows};
use crate::store;

/// Parses an `ID` argument into a row id.
pub fn row_id(id: &ID) -> async_graphql::Result<i64> {
    id.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Error::invalid("id", "is not an id this server issued"))
        .gql()
}

#[derive(MergedObject, Default)]
pub struct Query(
    ViewerQuery,
    TraceQuery,
    SeizureQuery,
    TrainingQuery,
    FundingQuery,
    FirearmQuery,
    AuditQuery,
    super::grants::GrantQuery,
);

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller and what its role may read and write.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        let access = &request(ctx)?.access;
        let permissions = EntityKind::ALL
            .iter()
            .map(|kind| {
                let rule = access.rule(*kind);
                let rows = match (rule.rows, rule.aggregates) {
                    (Rows::All, _) => RowAccess::All,
                    (Rows::Own | Rows::Implementing | Rows::Linked, _) => RowAccess::Own,
                    (Rows::None, Aggregates::Exact | Aggregates::Suppressed) => {
                        RowAccess::AggregateOnly
                    }
                    (Rows::None, Aggregates::None) => RowAccess::None,
                };
                EntityPermission {
                    entity: kind.as_str().to_owned(),
                    rows,
                    hidden_fields: access.hidden_fields(*kind),
                    can_write: access.can_write(*kind),
                }
            })
            .collect();
        let grants = crate::store::grants::list(&request(ctx)?.db, access, true)
            .await
            .gql()?
            .into_iter()
            .filter(|g| g.grantee_role == access.role())
            .map(Into::into)
            .collect();
        Ok(Viewer {
            subject: access.caller.subject.clone(),
            role: access.role(),
            scopes: access.caller.scopes.clone(),
            permissions,
            grants,
        })
    }
}

#[derive(Default)]
pub struct TraceQuery;

#[Object]
impl TraceQuery {
    #[graphql(visible = "crate::graphql::visibility::query::traces")]
    async fn traces(
        &self,
        ctx: &Context<'_>,
        filter: Option<TraceFilter>,
        order_by: Option<Vec<TraceOrder>>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Trace>> {
        let r = request(ctx)?;
        let args = page_args(first, after)?;
        let order = order_by.unwrap_or_default();
        let page = store::traces::list(&r.db, &r.access, filter.as_ref(), &order, &args)
            .await
            .gql()?;
        Ok(connection(page, Trace))
    }

    #[graphql(visible = "crate::graphql::visibility::query::trace")]
    async fn trace(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Trace>> {
        let r = request(ctx)?;
        let found = store::traces::get(&r.db, &r.access, row_id(&id)?)
            .await
            .gql()?;
        Ok(found.map(Trace))
    }

    /// Counts and metrics grouped by the given dimensions, computed in the database.
    #[graphql(visible = "crate::graphql::visibility::query::trace_stats")]
    async fn trace_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<TraceFilter>,
        group_by: Vec<TraceDimension>,
    ) -> async_graphql::Result<TraceStats> {
        let r = request(ctx)?;
        let group_by = distinct(group_by);
        let answer = store::traces::stats(&r.db, &r.access, filter.as_ref(), &group_by)
            .await
            .gql()?;
        Ok(TraceStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub struct SeizureQuery;

#[Object]
impl SeizureQuery {
    #[graphql(visible = "crate::graphql::visibility::query::seizures")]
    async fn seizures(
        &self,
        ctx: &Context<'_>,
        filter: Option<SeizureFilter>,
        order_by: Option<Vec<SeizureOrder>>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Seizure>> {
        let r = request(ctx)?;
        let args = page_args(first, after)?;
        let order = order_by.unwrap_or_default();
        let page = store::seizures::list(&r.db, &r.access, filter.as_ref(), &order, &args)
            .await
            .gql()?;
        Ok(connection(page, Seizure))
    }

    #[graphql(visible = "crate::graphql::visibility::query::seizure")]
    async fn seizure(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Seizure>> {
        let r = request(ctx)?;
        let found = store::seizures::get(&r.db, &r.access, row_id(&id)?)
            .await
            .gql()?;
        Ok(found.map(Seizure))
    }

    #[graphql(visible = "crate::graphql::visibility::query::seizure_stats")]
    async fn seizure_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<SeizureFilter>,
        group_by: Vec<SeizureDimension>,
    ) -> async_graphql::Result<SeizureStats> {
        let r = request(ctx)?;
        let group_by = distinct(group_by);
        let answer = store::seizures::stats(&r.db, &r.access, filter.as_ref(), &group_by)
            .await
            .gql()?;
        Ok(SeizureStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub struct TrainingQuery;

#[Object]
impl TrainingQuery {
    #[graphql(visible = "crate::graphql::visibility::query::trainings")]
    async fn trainings(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrainingFilter>,
        order_by: Option<Vec<TrainingOrder>>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Training>> {
        let r = request(ctx)?;
        let args = page_args(first, after)?;
        let order = order_by.unwrap_or_default();
        let page = store::trainings::list(&r.db, &r.access, filter.as_ref(), &order, &args)
            .await
            .gql()?;
        Ok(connection(page, Training))
    }

    #[graphql(visible = "crate::graphql::visibility::query::training")]
    async fn training(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Training>> {
        let r = request(ctx)?;
        let found = store::trainings::get(&r.db, &r.access, row_id(&id)?)
            .await
            .gql()?;
        Ok(found.map(Training))
    }

    #[graphql(visible = "crate::graphql::visibility::query::training_stats")]
    async fn training_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrainingFilter>,
        group_by: Vec<TrainingDimension>,
    ) -> async_graphql::Result<TrainingStats> {
        let r = request(ctx)?;
        let group_by = distinct(group_by);
        let answer = store::trainings::stats(&r.db, &r.access, filter.as_ref(), &group_by)
            .await
            .gql()?;
        Ok(TrainingStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub struct FundingQuery;

#[Object]
impl FundingQuery {
    #[graphql(visible = "crate::graphql::visibility::query::funding_awards")]
    async fn funding_awards(
        &self,
        ctx: &Context<'_>,
        filter: Option<FundingFilter>,
        order_by: Option<Vec<FundingOrder>>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<FundingAward>> {
        let r = request(ctx)?;
        let args = page_args(first, after)?;
        let order = order_by.unwrap_or_default();
        let page = store::funding::list(&r.db, &r.access, filter.as_ref(), &order, &args)
            .await
            .gql()?;
        Ok(connection(page, FundingAward))
    }

    #[graphql(visible = "crate::graphql::visibility::query::funding_award")]
    async fn funding_award(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<FundingAward>> {
        let r = request(ctx)?;
        let found = store::funding::get(&r.db, &r.access, row_id(&id)?)
            .await
            .gql()?;
        Ok(found.map(FundingAward))
    }

    #[graphql(visible = "crate::graphql::visibility::query::funding_stats")]
    async fn funding_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<FundingFilter>,
        group_by: Vec<FundingDimension>,
    ) -> async_graphql::Result<FundingStats> {
        let r = request(ctx)?;
        let group_by = distinct(group_by);
        let answer = store::funding::stats(&r.db, &r.access, filter.as_ref(), &group_by)
            .await
            .gql()?;
        Ok(FundingStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub struct FirearmQuery;

#[Object]
impl FirearmQuery {
    #[graphql(visible = "crate::graphql::visibility::query::firearms")]
    async fn firearms(
        &self,
        ctx: &Context<'_>,
        filter: Option<FirearmFilter>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Firearm>> {
        let r = request(ctx)?;
        let args = page_args(first, after)?;
        let page = store::firearms::list(&r.db, &r.access, filter.as_ref(), &args)
            .await
            .gql()?;
        Ok(connection(page, Firearm))
    }

    #[graphql(visible = "crate::graphql::visibility::query::firearm")]
    async fn firearm(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Firearm>> {
        let r = request(ctx)?;
        let found = store::firearms::get(&r.db, &r.access, row_id(&id)?)
            .await
            .gql()?;
        Ok(found.map(Firearm))
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    #[graphql(visible = "crate::graphql::visibility::query::audit_events")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditFilter>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<AuditEvent>> {
        let r = request(ctx)?;
        let args = page_args(first, after)?;
        let page = store::audit::list(&r.db, &r.access, filter.as_ref(), &args)
            .await
            .gql()?;
        Ok(connection(page, AuditEvent))
    }
}

/// Drops repeated dimensions, keeping the first occurrence.
fn distinct<D: PartialEq + Copy>(dims: Vec<D>) -> Vec<D> {
    let mut out = Vec::with_capacity(dims.len());
    for d in dims {
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}
