//! Link candidates: pairs of a seized firearm record and a traced one whose serials are one edit
//! apart, and the decisions of ATF and the seizing agency on them. Resolvers translate arguments;
//! the store (`store::candidates`) decides what the caller sees and may decide.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{Agency, LinkDecisionKind, Role};

use super::args::{page_args, row_id};
use super::context::request;
use super::errors::ResultExt;
use super::types::{Conn, Firearm, connection, page_of};
use crate::policy::EntityKind;
use crate::store::candidates::{
    self, CandidateCache, CandidateCriteria, CandidateDetail, Edit, Status, candidate_key,
};

/// How a seized record's serial differs from the traced record's.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum SerialEdit {
    /// One character replaced by one it is easily taken for (O for 0, I for 1, S for 5, B for 8 …).
    ConfusableSubstitution,
    /// One character replaced by another.
    Substitution,
    /// Two adjacent characters swapped.
    Transposition,
    /// One character of the traced serial missing.
    Deletion,
    /// One character more than the traced serial.
    Insertion,
}

impl From<Edit> for SerialEdit {
    fn from(edit: Edit) -> Self {
        match edit {
            Edit::ConfusableSubstitution => SerialEdit::ConfusableSubstitution,
            Edit::Substitution => SerialEdit::Substitution,
            Edit::Transposition => SerialEdit::Transposition,
            Edit::Deletion => SerialEdit::Deletion,
            Edit::Insertion => SerialEdit::Insertion,
        }
    }
}

impl From<SerialEdit> for Edit {
    fn from(edit: SerialEdit) -> Self {
        match edit {
            SerialEdit::ConfusableSubstitution => Edit::ConfusableSubstitution,
            SerialEdit::Substitution => Edit::Substitution,
            SerialEdit::Transposition => Edit::Transposition,
            SerialEdit::Deletion => Edit::Deletion,
            SerialEdit::Insertion => Edit::Insertion,
        }
    }
}

/// An attribute the two records agree on besides the near serial.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum LinkAttribute {
    Manufacturer,
    FirearmType,
    Caliber,
    Model,
}

/// Where the decisions on a candidate stand.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub(crate) enum LinkCandidateStatus {
    /// Neither side has rejected it, and not both have confirmed it.
    Open,
    /// ATF's and the seizing agency's latest decisions both confirm it: the records are linked.
    Confirmed,
    /// A side's latest decision rejects it.
    Rejected,
}

/// Why a pair is a candidate.
#[derive(SimpleObject)]
pub(crate) struct LinkReason {
    /// The one edit between the serials.
    edit: SerialEdit,
    /// What else agrees: manufacturer and type always (candidates are blocked by them), caliber
    /// and model when they do.
    agreeing: Vec<LinkAttribute>,
}

/// One agency's decision on a candidate.
#[derive(SimpleObject)]
pub(crate) struct LinkDecision {
    /// ATF for the trace side, the seized record's owner for the seizure side.
    side: Agency,
    decision: LinkDecisionKind,
    /// Who decided (the token's subject) and as which role; `null` for another agency's decision
    /// unless the caller reads every agency's audit events.
    subject: Option<String>,
    role: Role,
    /// The purpose stated with the decision; `null` for another agency's decision unless the
    /// caller reads every agency's audit events.
    purpose: Option<String>,
    decided_at: DateTime<Utc>,
}

/// A seized firearm record and a traced one whose serials are one edit apart.
pub(crate) struct LinkCandidate(CandidateDetail);

#[Object]
impl LinkCandidate {
    /// The seizing agency's record.
    async fn seized_firearm(&self) -> Firearm {
        Firearm(self.0.seized.clone())
    }
    /// ATF's record.
    async fn traced_firearm(&self) -> Firearm {
        Firearm(self.0.traced.clone())
    }
    /// From 0 to 1: how likely the two records are one gun's (the edit's weight: a confusable
    /// substitution highest, then a transposition, a dropped or added character, an arbitrary
    /// substitution; lowered when caliber or model differ).
    async fn score(&self) -> f64 {
        self.0.candidate.score
    }
    async fn reason(&self) -> LinkReason {
        let c = &self.0.candidate;
        let mut agreeing = vec![LinkAttribute::Manufacturer, LinkAttribute::FirearmType];
        if c.caliber_agrees {
            agreeing.push(LinkAttribute::Caliber);
        }
        if c.model_agrees {
            agreeing.push(LinkAttribute::Model);
        }
        LinkReason {
            edit: c.edit.into(),
            agreeing,
        }
    }
    /// CONFIRMED (the records are linked) only to a role that follows every firearm link; to any
    /// other, its own side's standing: REJECTED when its latest decision rejects, else OPEN.
    async fn status(&self) -> LinkCandidateStatus {
        match self.0.status {
            Status::Open => LinkCandidateStatus::Open,
            Status::Confirmed => LinkCandidateStatus::Confirmed,
            Status::Rejected => LinkCandidateStatus::Rejected,
        }
    }
    /// Every decision so far, oldest first; each side's latest is in force. The other side's
    /// decisions only to a role that follows every firearm link; its `subject` and `purpose` only
    /// to a role that reads every agency's audit events (else `null`).
    #[graphql(visible = "crate::graphql::visibility::link_candidate::decisions")]
    async fn decisions(&self) -> Option<Vec<LinkDecision>> {
        let decisions = self
            .0
            .decisions
            .iter()
            .map(|d| LinkDecision {
                side: d.side,
                decision: d.decision,
                subject: d.subject.clone(),
                role: d.role,
                purpose: d.purpose.clone(),
                decided_at: d.decided_at,
            })
            .collect();
        Some(decisions)
    }
}

/// Which candidates to list.
#[derive(InputObject, Default)]
pub(crate) struct LinkCandidateFilter {
    seized_firearm_id: Option<ID>,
    traced_firearm_id: Option<ID>,
    /// Only candidates scoring at least this (0 to 1).
    min_score: Option<f64>,
    edit: Option<Vec<SerialEdit>>,
}

/// One agency's decision on a candidate.
#[derive(InputObject)]
pub(crate) struct DecideLinkCandidateInput {
    seized_firearm_id: ID,
    traced_firearm_id: ID,
    decision: LinkDecisionKind,
}

fn cache<'a>(ctx: &'a Context<'_>) -> Option<&'a CandidateCache> {
    ctx.data_opt::<Arc<CandidateCache>>().map(AsRef::as_ref)
}

#[derive(Default)]
pub(crate) struct LinkCandidateQuery;

#[Object]
impl LinkCandidateQuery {
    /// Pairs of a seized firearm record and a traced one, of the same manufacturer and type, whose
    /// serials are one edit apart; only those whose both records the caller reads, and whose seized
    /// record the caller does not see linked to a traced record it reads already (by an identical
    /// serial or a confirmed near serial, over links it may follow). Ordered by seized record, then
    /// traced record.
    #[graphql(visible = "crate::graphql::visibility::query::link_candidates")]
    async fn link_candidates(
        &self,
        ctx: &Context<'_>,
        filter: Option<LinkCandidateFilter>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<LinkCandidate>> {
        let r = request(ctx)?;
        let filter = filter.unwrap_or_default();
        let criteria = CandidateCriteria {
            seized_firearm_id: filter.seized_firearm_id.as_ref().map(row_id).transpose()?,
            traced_firearm_id: filter.traced_firearm_id.as_ref().map(row_id).transpose()?,
            min_score: filter.min_score,
            edits: filter
                .edit
                .map(|edits| edits.into_iter().map(Into::into).collect()),
        };
        let args = page_args(first, after)?;
        let seen = candidates::visible(&r.db, &r.access, cache(ctx), &criteria)
            .await
            .gql()?;
        let page = page_of(seen, candidate_key, &args)?;
        let wanted: Vec<_> = page.rows.iter().map(|(_, c)| c.clone()).collect();
        let mut details = candidates::details(&r.db, &r.access, wanted)
            .await
            .gql()?
            .into_iter();
        let page = page.map(|_| details.next().flatten());
        let rows = page
            .rows
            .into_iter()
            .filter_map(|(k, d)| Some((k, d?)))
            .collect();
        Ok(connection(
            crate::store::page::Page {
                rows,
                has_next: page.has_next,
                has_previous: page.has_previous,
                total: page.total,
            },
            LinkCandidate,
        ))
    }
}

#[derive(Default)]
pub(crate) struct LinkCandidateMutation;

#[Object]
impl LinkCandidateMutation {
    /// Confirms or rejects a candidate for the caller's agency's side: ATF for the trace, the
    /// seizing agency for the seizure. The decision is kept with who took it, when and the stated
    /// purpose, and is never deleted: a later decision of the same side supersedes it. When both
    /// sides' latest decisions confirm, the records are linked (`CONFIRMED_NEAR_SERIAL`) and each
    /// record's links, traces and seizures follow the link as they follow an identical serial's; a
    /// later rejection removes the link. A pair the caller may not decide on is NOT_FOUND.
    #[graphql(visible = "crate::graphql::visibility::mutation::decide_link_candidate")]
    async fn decide_link_candidate(
        &self,
        ctx: &Context<'_>,
        input: DecideLinkCandidateInput,
    ) -> async_graphql::Result<LinkCandidate> {
        let r = request(ctx)?;
        let event = r.write_event("decideLinkCandidate", EntityKind::LinkCandidate);
        let decided = candidates::decide(
            &r.db,
            &r.access,
            row_id(&input.seized_firearm_id)?,
            row_id(&input.traced_firearm_id)?,
            input.decision,
            event,
            r.events.as_deref(),
        )
        .await
        .gql()?;
        Ok(LinkCandidate(decided))
    }
}
