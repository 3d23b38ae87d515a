//! The subscription roots: each yields, as it is committed, every record of its kind created or
//! changed (`traceRecorded`, `seizureRecorded`, `trainingRecorded`) and every new link between a
//! seized firearm record and a traced one (`linkFound`), as far as the subscriber could read it by
//! query. An event names a record by id only (`store::events`); the subscriber's stream reads the
//! record again through the store's door as the subscriber (its rows, its purpose, the grants in
//! force now, its hidden fields blanked), so a record it could not read is not delivered at all.
//! The server records each delivery in the audit trail (`server/subscriptions.rs`).

use async_graphql::{Context, ErrorExtensions, Object, Subscription};
use chrono::{DateTime, Utc};
use entity::{Agency, LinkBasis, firearm, seizure, trace, training_event};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::context::{RequestContext, request};
use super::errors::code;
use super::types::{Firearm, Seizure, Trace, Training};
use crate::policy::{Access, EntityKind};
use crate::store;
use crate::store::door::Owned;
use crate::store::events::Event;
use crate::store::filters::{SeizureFilter, TraceFilter, TrainingFilter};

#[derive(Default)]
pub(crate) struct Subscription;

#[Subscription(visible = "crate::graphql::visibility::subscriptions")]
impl Subscription {
    /// Each trace created or changed from now on that the caller could read by query (and that
    /// matches `filter`), as `trace(id:)` would answer it.
    #[graphql(visible = "crate::graphql::visibility::subscription::trace_recorded")]
    async fn trace_recorded(
        &self,
        ctx: &Context<'_>,
        filter: Option<TraceFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Trace>> + use<>> {
        recorded::<trace::Entity, _>(ctx, "traceRecorded", EntityKind::Trace, filter, Trace)
    }

    /// Each seizure recorded or changed from now on that the caller could read by query (and that
    /// matches `filter`).
    #[graphql(visible = "crate::graphql::visibility::subscription::seizure_recorded")]
    async fn seizure_recorded(
        &self,
        ctx: &Context<'_>,
        filter: Option<SeizureFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Seizure>> + use<>> {
        recorded::<seizure::Entity, _>(ctx, "seizureRecorded", EntityKind::Seizure, filter, Seizure)
    }

    /// Each training event created or changed from now on that the caller could read by query
    /// (and that matches `filter`).
    #[graphql(visible = "crate::graphql::visibility::subscription::training_recorded")]
    async fn training_recorded(
        &self,
        ctx: &Context<'_>,
        filter: Option<TrainingFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Training>> + use<>> {
        recorded::<training_event::Entity, _>(
            ctx,
            "trainingRecorded",
            EntityKind::Training,
            filter,
            Training,
        )
    }

    /// Each new link between a seized firearm record and a traced one (identical serials, or a
    /// near-serial candidate both agencies confirmed) whose two records the caller reads and
    /// whose link it may follow, as `Firearm.links` would show it.
    #[graphql(visible = "crate::graphql::visibility::subscription::link_found")]
    async fn link_found(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<LinkFound>> + use<>> {
        let (receiver, r) = follow(ctx, "linkFound")?;
        Ok(futures_util::stream::unfold(
            Some((receiver, r)),
            |state| async move {
                let (mut receiver, r) = state?;
                loop {
                    let (low, high) = match next_event(&mut receiver).await {
                        Ok(Some(Event::Linked { low, high })) => (low, high),
                        Ok(Some(_)) => continue,
                        Ok(None) => return None,
                        Err(error) => return Some((Err(error), None)),
                    };
                    match link(&r, low, high).await {
                        Ok(Some(found)) => return Some((Ok(found), Some((receiver, r)))),
                        Ok(None) => {
                            // Nothing was delivered: what the read touched is no delivery's.
                            r.access.trail.take();
                        }
                        Err(error) => return Some((Err(error), Some((receiver, r)))),
                    }
                }
            },
        ))
    }
}

/// A seized firearm record newly linked to a traced one.
pub(crate) struct LinkFound {
    basis: LinkBasis,
    created_at: DateTime<Utc>,
    seized: firearm::Model,
    traced: firearm::Model,
}

#[Object]
impl LinkFound {
    /// Why the two records are taken for the same gun.
    async fn basis(&self) -> LinkBasis {
        self.basis
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The seizing agency's record of the gun.
    async fn seized_firearm(&self) -> Firearm {
        Firearm(self.seized.clone())
    }
    /// ATF's record of the gun, held by a trace.
    async fn traced_firearm(&self) -> Firearm {
        Firearm(self.traced.clone())
    }
}

/// The subscriber's request context and a receiver of the process's events from now on. A role
/// that reads none of the records a subscription carries is refused (FORBIDDEN) when it
/// subscribes, whatever happens later.
fn follow(
    ctx: &Context<'_>,
    field: &str,
) -> async_graphql::Result<(tokio::sync::broadcast::Receiver<Event>, RequestContext)> {
    let r = request(ctx)?.clone();
    if !super::visibility::visible(&r.access, "Subscription", field) {
        return Err(crate::error::Error::Forbidden(format!(
            "the role {} reads none of the records {field} carries",
            r.access.role()
        ))
        .extend());
    }
    let events = r.events.clone().ok_or_else(|| {
        async_graphql::Error::new("subscriptions are served over WebSocket on /graphql")
            .extend_with(|_, e| e.set("code", code::BAD_USER_INPUT))
    })?;
    Ok((events.subscribe(), r))
}

/// The next event; `None` once the process stops. A subscriber so far behind that the bus dropped
/// events it had not taken gets an error, and its subscription ends: it must read what it missed
/// by query.
async fn next_event(
    receiver: &mut tokio::sync::broadcast::Receiver<Event>,
) -> async_graphql::Result<Option<Event>> {
    match receiver.recv().await {
        Ok(event) => Ok(Some(event)),
        Err(RecvError::Closed) => Ok(None),
        Err(RecvError::Lagged(missed)) => Err(async_graphql::Error::new(format!(
            "the subscription fell {missed} events behind and ended; query what changed since \
             and subscribe again"
        ))
        .extend_with(|_, e| e.set("code", code::LIMIT_EXCEEDED))),
    }
}

/// The subscriber with the grants in force now (a grant starts, ends or is revoked while a
/// subscription runs), on the subscription's trail.
async fn in_force(r: &RequestContext) -> async_graphql::Result<Access> {
    let Some(grants) = &r.grants else {
        return Ok(r.access.clone());
    };
    let now = grants
        .in_force_for(&r.db, r.access.role(), Utc::now())
        .await
        .map_err(|e| e.extend())?;
    Ok(r.access.clone().with_grants(now))
}

/// The stream of one kind of record: each event of `kind` read through the door as the
/// subscriber, those it cannot read (or that do not match `filter`) left out.
fn recorded<E, N>(
    ctx: &Context<'_>,
    field: &'static str,
    kind: EntityKind,
    filter: Option<E::Filter>,
    node: fn(E::Model) -> N,
) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<N>> + use<E, N>>
where
    E: Owned,
    E::Filter: Send + Sync + 'static,
    E::Model: Send,
    N: Send + 'static,
{
    let (receiver, r) = follow(ctx, field)?;
    Ok(futures_util::stream::unfold(
        Some((receiver, r, filter)),
        move |state| async move {
            let (mut receiver, r, filter) = state?;
            loop {
                let id = match next_event(&mut receiver).await {
                    Ok(Some(Event::Recorded { kind: k, id })) if k == kind => id,
                    Ok(Some(_)) => continue,
                    Ok(None) => return None,
                    Err(error) => return Some((Err(error), None)),
                };
                let access = match in_force(&r).await {
                    Ok(access) => access,
                    Err(error) => return Some((Err(error), Some((receiver, r, filter)))),
                };
                match store::door::get_matching::<E, _>(&r.db, &access, id, filter.as_ref()).await {
                    Ok(Some(model)) => return Some((Ok(node(model)), Some((receiver, r, filter)))),
                    Ok(None) => {
                        r.access.trail.take();
                    }
                    Err(error) => {
                        return Some((Err(error.extend()), Some((receiver, r, filter))));
                    }
                }
            }
        },
    ))
}

/// The link between `low` and `high` as the subscriber sees it: both records readable through
/// the door, the link one it may follow (the `firearmLink` rule, and its purpose for another
/// agency's record), and one record a traced (ATF's) and the other a seized one.
async fn link(r: &RequestContext, low: i64, high: i64) -> async_graphql::Result<Option<LinkFound>> {
    let access = in_force(r).await?;
    let gql = |e: crate::error::Error| e.extend();
    let Some(a) = store::door::get::<firearm::Entity, _>(&r.db, &access, low)
        .await
        .map_err(gql)?
    else {
        return Ok(None);
    };
    let Some(b) = store::door::get::<firearm::Entity, _>(&r.db, &access, high)
        .await
        .map_err(gql)?
    else {
        return Ok(None);
    };
    let (traced, seized) = match (a.owner_agency, b.owner_agency) {
        (Agency::Atf, other) if other != Agency::Atf => (a, b),
        (other, Agency::Atf) if other != Agency::Atf => (b, a),
        _ => return Ok(None),
    };
    let followed = store::links::by_firearms(&r.db, &access, &[traced.id])
        .await
        .map_err(gql)?;
    let Some((found, _)) = followed
        .get(&traced.id)
        .into_iter()
        .flatten()
        .find(|(_, record)| record.id == seized.id)
    else {
        return Ok(None);
    };
    Ok(Some(LinkFound {
        basis: found.basis,
        created_at: found.created_at,
        seized,
        traced,
    }))
}
