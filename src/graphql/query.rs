//! The query roots, one per entity, merged into `Query`. Resolvers only translate arguments and
//! call the store, which applies the caller's policy.

use async_graphql::{Context, ID, MergedObject, Object};

use entity::{firearm, funding_award, seizure, trace, training_event};

use super::args::{root_page_args, row_id};
use super::context::request;
use super::errors::ResultExt;
use super::stats::{DisclosureControl, FundingStats, SeizureStats, TraceStats, TrainingStats};
use super::types::{
    AuditEvent, Conn, EntityPermission, Firearm, FundingAward, RowAccess, Seizure, Trace, Training,
    Viewer, connection,
};
use crate::policy::suppression::Answer;
use crate::policy::{Aggregates, EntityKind, Rows};
use crate::store;
use crate::store::door::Owned;
use crate::store::filters::*;
use crate::store::stats::Grouped;

#[derive(MergedObject, Default)]
pub(crate) struct Query(
    ViewerQuery,
    DisclosureQuery,
    TraceQuery,
    SeizureQuery,
    TrainingQuery,
    FundingQuery,
    FirearmQuery,
    AuditQuery,
    super::links::LinkCandidateQuery,
    super::grants::GrantQuery,
    super::analytics::AnalyticsQuery,
    super::measures::MeasureQuery,
);

#[derive(Default)]
pub(crate) struct ViewerQuery;

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
                    (Rows::Own, _) => RowAccess::Own,
                    (Rows::Implementing, _) => RowAccess::Implementing,
                    (Rows::Linked, _) => RowAccess::Linked,
                    (Rows::None, Aggregates::Exact | Aggregates::Suppressed) => {
                        RowAccess::AggregateOnly
                    }
                    (Rows::None, Aggregates::None) => RowAccess::None,
                };
                EntityPermission {
                    entity: kind.as_str().to_owned(),
                    rows,
                    hidden_fields: store::hidden_fields(access, *kind),
                    can_write: access.can_write(*kind),
                }
            })
            .collect::<Vec<_>>();
        let mut permissions = permissions;
        // Performance measures are not records of the policy's entities: every role reads them,
        // and each agency's role writes its agency's measures (oversight every one).
        permissions.push(EntityPermission {
            entity: "performanceMeasure".to_owned(),
            rows: RowAccess::All,
            hidden_fields: Vec::new(),
            can_write: true,
        });
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
pub(crate) struct DisclosureQuery;

#[Object]
impl DisclosureQuery {
    /// How protected answers (`suppressed: true`) are protected: the cell key method's public
    /// parameters, the same for every role.
    async fn disclosure_control(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<DisclosureControl> {
        Ok(DisclosureControl::of(&request(ctx)?.access.policy))
    }
}

#[derive(Default)]
pub(crate) struct TraceQuery;

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
        let order = order_by
            .unwrap_or_default()
            .iter()
            .map(Order::key)
            .collect();
        rows::<trace::Entity, _>(ctx, filter, order, first, after, Trace).await
    }

    #[graphql(visible = "crate::graphql::visibility::query::trace")]
    async fn trace(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Trace>> {
        row::<trace::Entity, _>(ctx, &id, Trace).await
    }

    /// Counts and metrics grouped by the given dimensions, computed in the database.
    #[graphql(
        visible = "crate::graphql::visibility::query::trace_stats",
        complexity = "stats_weight(group_by.len(), child_complexity)"
    )]
    async fn trace_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<TraceFilter>,
        group_by: Vec<TraceDimension>,
    ) -> async_graphql::Result<TraceStats> {
        let group_by = distinct(group_by);
        let answer = grouped::<trace::Entity>(ctx, filter, &group_by).await?;
        Ok(TraceStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub(crate) struct SeizureQuery;

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
        let order = order_by
            .unwrap_or_default()
            .iter()
            .map(Order::key)
            .collect();
        rows::<seizure::Entity, _>(ctx, filter, order, first, after, Seizure).await
    }

    #[graphql(visible = "crate::graphql::visibility::query::seizure")]
    async fn seizure(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Seizure>> {
        row::<seizure::Entity, _>(ctx, &id, Seizure).await
    }

    #[graphql(
        visible = "crate::graphql::visibility::query::seizure_stats",
        complexity = "stats_weight(group_by.len(), child_complexity)"
    )]
    async fn seizure_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<SeizureFilter>,
        group_by: Vec<SeizureDimension>,
    ) -> async_graphql::Result<SeizureStats> {
        let group_by = distinct(group_by);
        let answer = grouped::<seizure::Entity>(ctx, filter, &group_by).await?;
        Ok(SeizureStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub(crate) struct TrainingQuery;

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
        let order = order_by
            .unwrap_or_default()
            .iter()
            .map(Order::key)
            .collect();
        rows::<training_event::Entity, _>(ctx, filter, order, first, after, Training).await
    }

    #[graphql(visible = "crate::graphql::visibility::query::training")]
    async fn training(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Training>> {
        row::<training_event::Entity, _>(ctx, &id, Training).await
    }

    #[graphql(
        visible = "crate::graphql::visibility::query::training_stats",
        complexity = "stats_weight(group_by.len(), child_complexity)"
    )]
    async fn training_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrainingFilter>,
        group_by: Vec<TrainingDimension>,
    ) -> async_graphql::Result<TrainingStats> {
        let group_by = distinct(group_by);
        let answer = grouped::<training_event::Entity>(ctx, filter, &group_by).await?;
        Ok(TrainingStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub(crate) struct FundingQuery;

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
        let order = order_by
            .unwrap_or_default()
            .iter()
            .map(Order::key)
            .collect();
        rows::<funding_award::Entity, _>(ctx, filter, order, first, after, FundingAward).await
    }

    #[graphql(visible = "crate::graphql::visibility::query::funding_award")]
    async fn funding_award(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<FundingAward>> {
        row::<funding_award::Entity, _>(ctx, &id, FundingAward).await
    }

    #[graphql(
        visible = "crate::graphql::visibility::query::funding_stats",
        complexity = "stats_weight(group_by.len(), child_complexity)"
    )]
    async fn funding_stats(
        &self,
        ctx: &Context<'_>,
        filter: Option<FundingFilter>,
        group_by: Vec<FundingDimension>,
    ) -> async_graphql::Result<FundingStats> {
        let group_by = distinct(group_by);
        let answer = grouped::<funding_award::Entity>(ctx, filter, &group_by).await?;
        Ok(FundingStats::new(answer, &group_by))
    }
}

#[derive(Default)]
pub(crate) struct FirearmQuery;

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
        rows::<firearm::Entity, _>(ctx, filter, Vec::new(), first, after, Firearm).await
    }

    #[graphql(visible = "crate::graphql::visibility::query::firearm")]
    async fn firearm(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Firearm>> {
        row::<firearm::Entity, _>(ctx, &id, Firearm).await
    }
}

#[derive(Default)]
pub(crate) struct AuditQuery;

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
        let args = root_page_args(ctx, first, after)?;
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

/// A page of an entity's rows through the store's door, as a connection of `node`s.
async fn rows<E, N>(
    ctx: &Context<'_>,
    filter: Option<E::Filter>,
    order: Vec<(E::OrderField, bool)>,
    first: Option<i32>,
    after: Option<String>,
    node: fn(E::Model) -> N,
) -> async_graphql::Result<Conn<N>>
where
    E: Owned,
    E::Model: Sync,
    N: async_graphql::OutputType,
{
    let r = request(ctx)?;
    let args = root_page_args(ctx, first, after)?;
    let page = store::door::list::<E, _>(&r.db, &r.access, filter.as_ref(), &order, &args)
        .await
        .gql()?;
    Ok(connection(page, node))
}

/// One of an entity's rows by id through the store's door.
async fn row<E: Owned, N>(
    ctx: &Context<'_>,
    id: &ID,
    node: fn(E::Model) -> N,
) -> async_graphql::Result<Option<N>> {
    let r = request(ctx)?;
    let found = store::door::get::<E, _>(&r.db, &r.access, row_id(id)?)
        .await
        .gql()?;
    Ok(found.map(node))
}

/// What a stats root weighs in `limits.complexity`, before its selections: a root may need a
/// grouped pass over the whole entity (its canonical table when not cached, or the SQL path's
/// passes for a filter on other fields), and each dimension multiplies the cells and widens the
/// sort.
pub(crate) const STATS_ROOT_WEIGHT: usize = 100;
/// What each dimension a stats root groups by adds to its weight.
pub(crate) const STATS_DIMENSION_WEIGHT: usize = 50;

/// The complexity of a stats root grouping by `dimensions`, its selections weighing `children`.
pub(crate) fn stats_weight(dimensions: usize, children: usize) -> usize {
    STATS_ROOT_WEIGHT
        .saturating_add(STATS_DIMENSION_WEIGHT.saturating_mul(dimensions))
        .saturating_add(children)
}

/// An entity's grouped counts and metrics, as the caller's policy allows.
async fn grouped<E>(
    ctx: &Context<'_>,
    filter: Option<E::Filter>,
    group_by: &[E::Dimension],
) -> async_graphql::Result<Answer>
where
    E: Grouped,
    E::Filter: async_graphql::InputType,
{
    let r = request(ctx)?;
    let cache = ctx.data_opt::<std::sync::Arc<store::canonical::StatsCache>>();
    store::stats::stats::<E, _>(
        &r.db,
        &r.access,
        filter.as_ref(),
        group_by,
        cache.map(|c| &**c),
    )
    .await
    .gql()
}
