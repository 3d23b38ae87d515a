//! The object types of the contract. Each wraps a row the store already scoped and masked; a field
//! the caller's role may not read resolves to `null` with a FORBIDDEN error at its path.

use async_graphql::connection::{Connection, Edge, OpaqueCursor};
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, Role, SourceClass,
    TraceStatus, audit_event, firearm, funding_award, seizure, trace, training_event,
};

use super::context::request;
use super::errors::{field_forbidden, loader_error};
use super::loaders::{
    FirearmById, FirearmsOfSeizure, FundingAwardById, LinksOfFirearm, SeizuresOfFirearm,
    TracesOfFirearm, TrainingsOfAward,
};
use crate::domain::scalars::{Date, Money};
use crate::store::page::{KeyValue, Page, PageArgs};

use super::args::{Cursor, page_args};

/// `totalCount` beside `edges`, `nodes` and `pageInfo`.
#[derive(SimpleObject)]
pub(crate) struct Totals {
    pub total_count: i64,
}

pub(crate) type Conn<N> = Connection<Cursor, N, Totals>;

/// Builds a connection from a store page.
pub(crate) fn connection<M, N: async_graphql::OutputType>(
    page: Page<M>,
    node: impl Fn(M) -> N,
) -> Conn<N> {
    let mut conn = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        Totals {
            total_count: page.total,
        },
    );
    conn.edges.extend(
        page.rows
            .into_iter()
            .map(|(key, m)| Edge::new(OpaqueCursor(key), node(m))),
    );
    conn
}

/// Pages an in-memory list (an edge's few rows) by id.
pub(crate) fn page_of<M>(
    rows: Vec<M>,
    id: impl Fn(&M) -> i64,
    args: &PageArgs,
) -> async_graphql::Result<Page<M>> {
    let limit = match args.first {
        Some(n) if !(0..=crate::store::page::MAX_PAGE_SIZE).contains(&n) => {
            return Err(async_graphql::ErrorExtensions::extend(
                &crate::error::Error::invalid(
                    "first",
                    format!(
                        "must be between 0 and {}",
                        crate::store::page::MAX_PAGE_SIZE
                    ),
                ),
            ));
        }
        Some(n) => n as usize,
        None => 20,
    };
    let after = match args.after.as_deref() {
        Some([KeyValue::Int(after)]) => Some(*after),
        Some(_) => {
            return Err(async_graphql::ErrorExtensions::extend(
                &crate::error::Error::invalid("after", "is not a cursor of this list"),
            ));
        }
        None => None,
    };
    let total = rows.len() as i64;
    // The cursor is the id, so the edge pages in id order whatever order the rows came in.
    let mut rows = rows;
    rows.sort_by_key(|m| id(m));
    let rest: Vec<M> = rows
        .into_iter()
        .filter(|m| after.is_none_or(|a| id(m) > a))
        .collect();
    let has_next = rest.len() > limit;
    Ok(Page {
        rows: rest
            .into_iter()
            .take(limit)
            .map(|m| (vec![KeyValue::Int(id(&m))], m))
            .collect(),
        has_next,
        has_previous: after.is_some(),
        total,
    })
}

pub(crate) struct Provenance {
    owner: Agency,
    source_system: String,
    ingested_at: DateTime<Utc>,
}

#[Object]
impl Provenance {
    async fn owner_agency(&self) -> Agency {
        self.owner
    }
    async fn source_system(&self) -> &str {
        &self.source_system
    }
    async fn ingested_at(&self) -> DateTime<Utc> {
        self.ingested_at
    }
}

macro_rules! provenance {
    ($m:expr) => {
        Provenance {
            owner: $m.owner_agency,
            source_system: $m.source_system.clone(),
            ingested_at: $m.ingested_at,
        }
    };
}

pub(crate) struct Trace(pub trace::Model);

#[Object]
impl Trace {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn trace_number(&self) -> &str {
        &self.0.trace_number
    }
    #[graphql(visible = "crate::graphql::visibility::trace::firearm")]
    async fn firearm(&self, ctx: &Context<'_>) -> async_graphql::Result<Firearm> {
        let loader = &request(ctx)?.loader;
        loader
            .load_one(FirearmById(self.0.firearm_id))
            .await
            .map_err(loader_error)?
            .map(Firearm)
            .ok_or_else(|| field_forbidden("trace", "firearm"))
    }
    async fn requesting_agency(&self) -> &str {
        &self.0.requesting_agency
    }
    async fn recovery_date(&self) -> Date {
        Date(self.0.recovery_date)
    }
    async fn recovery_state(&self) -> &str {
        &self.0.recovery_state
    }
    #[graphql(visible = "crate::graphql::visibility::trace::recovery_municipality")]
    async fn recovery_municipality(&self) -> Option<&str> {
        self.0.recovery_municipality.as_deref()
    }
    async fn status(&self) -> TraceStatus {
        self.0.status
    }
    async fn source_class(&self) -> SourceClass {
        self.0.source_class
    }
    async fn purchase_state(&self) -> Option<&str> {
        self.0.purchase_state.as_deref()
    }
    #[graphql(visible = "crate::graphql::visibility::trace::purchase_date")]
    async fn purchase_date(&self) -> Option<Date> {
        self.0.purchase_date.map(Date)
    }
    async fn time_to_crime_days(&self) -> Option<i32> {
        self.0.time_to_crime_days
    }
    /// Restricted.
    #[graphql(visible = "crate::graphql::visibility::trace::dealer_license")]
    async fn dealer_license(&self) -> Option<&str> {
        self.0.dealer_license.as_deref()
    }
    /// Personal data.
    #[graphql(visible = "crate::graphql::visibility::trace::purchaser_name")]
    async fn purchaser_name(&self) -> Option<&str> {
        self.0.purchaser_name.as_deref()
    }
    async fn provenance(&self) -> Provenance {
        provenance!(self.0)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

pub(crate) struct Firearm(pub firearm::Model);

#[Object]
impl Firearm {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn manufacturer(&self) -> &str {
        &self.0.manufacturer
    }
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }
    #[graphql(name = "type")]
    async fn firearm_type(&self) -> FirearmType {
        self.0.firearm_type
    }
    async fn caliber(&self) -> Option<&str> {
        self.0.caliber.as_deref()
    }
    async fn serial_number(&self) -> Option<&str> {
        self.0.serial_number.as_deref()
    }
    async fn country_of_manufacture(&self) -> Option<&str> {
        self.0.country_of_manufacture.as_deref()
    }
    #[graphql(visible = "crate::graphql::visibility::firearm::importer")]
    async fn importer(&self) -> Option<&str> {
        self.0.importer.as_deref()
    }
    /// The agency whose record of the gun this is.
    async fn provenance(&self) -> Provenance {
        provenance!(self.0)
    }
    /// Other records of the same gun the caller may follow a link to (its role's `firearmLink`
    /// rule; another agency's record needs a stated purpose), each with why it is linked.
    #[graphql(visible = "crate::graphql::visibility::firearm::links")]
    async fn links(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<FirearmLink>> {
        let rows = request(ctx)?
            .loader
            .load_one(LinksOfFirearm(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|(link, firearm)| FirearmLink { link, firearm })
            .collect())
    }
    /// The traces of this gun the caller may read: those holding this record, and those holding
    /// the records the caller may follow links to.
    #[graphql(visible = "crate::graphql::visibility::firearm::traces")]
    async fn traces(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Trace>> {
        let rows = request(ctx)?
            .loader
            .load_one(TracesOfFirearm(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        let page = page_of(rows, |t| t.id, &page_args(first, after)?)?;
        Ok(connection(page, Trace))
    }
    /// The seizures of this gun the caller may read: those holding this record, and those holding
    /// the records the caller may follow links to (a traced gun's seizures).
    #[graphql(visible = "crate::graphql::visibility::firearm::seizures")]
    async fn seizures(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<Seizure>> {
        let rows = request(ctx)?
            .loader
            .load_one(SeizuresOfFirearm(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        let page = page_of(rows, |s| s.id, &page_args(first, after)?)?;
        Ok(connection(page, Seizure))
    }
}

/// A link from a firearm record to another record of the same gun.
pub(crate) struct FirearmLink {
    link: entity::firearm_link::Model,
    firearm: firearm::Model,
}

#[Object]
impl FirearmLink {
    /// Why the two records are taken for the same gun.
    async fn basis(&self) -> entity::LinkBasis {
        self.link.basis
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.link.created_at
    }
    /// The other record.
    #[graphql(visible = "crate::graphql::visibility::firearm_link::firearm")]
    async fn firearm(&self) -> Firearm {
        Firearm(self.firearm.clone())
    }
}

pub(crate) struct Seizure(pub seizure::Model);

#[Object]
impl Seizure {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Restricted.
    #[graphql(visible = "crate::graphql::visibility::seizure::case_number")]
    async fn case_number(&self) -> Option<&str> {
        Some(self.0.case_number.as_str())
    }
    async fn seizing_agency(&self) -> Agency {
        self.0.seizing_agency
    }
    async fn operation(&self) -> Option<&str> {
        self.0.operation.as_deref()
    }
    async fn seized_on(&self) -> Date {
        Date(self.0.seized_on)
    }
    /// U.S. federal fiscal year, starting October 1.
    async fn fiscal_year(&self) -> i32 {
        self.0.fiscal_year
    }
    async fn us_state(&self) -> &str {
        &self.0.us_state
    }
    async fn port_of_entry(&self) -> Option<&str> {
        self.0.port_of_entry.as_deref()
    }
    async fn direction(&self) -> Direction {
        self.0.direction
    }
    #[graphql(visible = "crate::graphql::visibility::seizure::concealment_method")]
    async fn concealment_method(&self) -> Option<&str> {
        self.0.concealment_method.as_deref()
    }
    async fn ammunition_rounds(&self) -> i64 {
        self.0.ammunition_rounds
    }
    async fn firearm_count(&self) -> i32 {
        self.0.firearm_count
    }
    /// What became of the seized firearms; null until recorded.
    async fn disposition(&self) -> Option<Disposition> {
        self.0.disposition
    }
    /// The seized firearms the caller may read.
    #[graphql(visible = "crate::graphql::visibility::seizure::firearms")]
    async fn firearms(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Firearm>> {
        Ok(request(ctx)?
            .loader
            .load_one(FirearmsOfSeizure(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default()
            .into_iter()
            .map(Firearm)
            .collect())
    }
    async fn provenance(&self) -> Provenance {
        provenance!(self.0)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

pub(crate) struct Training(pub training_event::Model);

#[Object]
impl Training {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The provider's reference for the event.
    async fn reference(&self) -> &str {
        &self.0.reference
    }
    async fn course(&self) -> CourseKind {
        self.0.course
    }
    async fn provider(&self) -> Agency {
        self.0.provider
    }
    async fn start_date(&self) -> Date {
        Date(self.0.start_date)
    }
    async fn end_date(&self) -> Date {
        Date(self.0.end_date)
    }
    async fn fiscal_year(&self) -> i32 {
        self.0.fiscal_year
    }
    async fn mexican_agency(&self) -> &str {
        &self.0.mexican_agency
    }
    async fn mexican_state(&self) -> Option<&str> {
        self.0.mexican_state.as_deref()
    }
    async fn participants(&self) -> i32 {
        self.0.participants
    }
    async fn etrace_accounts_granted(&self) -> i32 {
        self.0.etrace_accounts_granted
    }
    /// The award that funded the event, when the caller may read it.
    #[graphql(visible = "crate::graphql::visibility::training::funding_award")]
    async fn funding_award(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<FundingAward>> {
        let Some(id) = self.0.funding_award_id else {
            return Ok(None);
        };
        Ok(request(ctx)?
            .loader
            .load_one(FundingAwardById(id))
            .await
            .map_err(loader_error)?
            .map(FundingAward))
    }
    async fn provenance(&self) -> Provenance {
        provenance!(self.0)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

pub(crate) struct FundingAward(pub funding_award::Model);

#[Object]
impl FundingAward {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// State's award identifier.
    async fn award_number(&self) -> &str {
        &self.0.award_number
    }
    async fn fiscal_year(&self) -> i32 {
        self.0.fiscal_year
    }
    async fn program(&self) -> &str {
        &self.0.program
    }
    async fn category(&self) -> FundingCategory {
        self.0.category
    }
    async fn implementing_agency(&self) -> Option<Agency> {
        self.0.implementing_agency
    }
    async fn recipient(&self) -> &str {
        &self.0.recipient
    }
    async fn obligated(&self) -> Money {
        Money(self.0.obligated_cents)
    }
    async fn disbursed(&self) -> Money {
        Money(self.0.disbursed_cents)
    }
    #[graphql(visible = "crate::graphql::visibility::funding_award::description")]
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// The training events this award funded that the caller may read.
    #[graphql(visible = "crate::graphql::visibility::funding_award::trainings")]
    async fn trainings(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Training>> {
        Ok(request(ctx)?
            .loader
            .load_one(TrainingsOfAward(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default()
            .into_iter()
            .map(Training)
            .collect())
    }
    async fn provenance(&self) -> Provenance {
        provenance!(self.0)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
}

pub(crate) struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn role(&self) -> Role {
        self.0.role
    }
    async fn purpose(&self) -> Option<&str> {
        self.0.purpose.as_deref()
    }
    /// Operation name, or a hash of the document when unnamed.
    async fn operation(&self) -> &str {
        &self.0.operation
    }
    /// Lower-case hex SHA-256 of the GraphQL document the operation ran, when it ran one (a
    /// persisted operation's hash is this hash).
    async fn document_hash(&self) -> Option<&str> {
        self.0.document_hash.as_deref()
    }
    async fn entities(&self) -> Vec<&str> {
        self.0
            .entities
            .split(',')
            .filter(|s| !s.is_empty())
            .collect()
    }
    async fn rows_returned(&self) -> i64 {
        self.0.rows_returned
    }
    /// "ok", "denied" or "error".
    async fn outcome(&self) -> &str {
        &self.0.outcome
    }
}

/// Which rows of an entity a role reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub(crate) enum RowAccess {
    All,
    /// The rows the caller's agency owns.
    Own,
    /// Funding awards the caller's agency implements.
    Implementing,
    /// Firearm records held by the traces and seizures the caller reads.
    Linked,
    AggregateOnly,
    None,
}

#[derive(SimpleObject)]
pub(crate) struct EntityPermission {
    /// "trace", "seizure", "training", "fundingAward", "firearm", "firearmLink", "auditEvent",
    /// "performanceMeasure"
    pub entity: String,
    pub rows: RowAccess,
    pub hidden_fields: Vec<String>,
    pub can_write: bool,
}

/// The caller and what its role may read and write.
#[derive(SimpleObject)]
pub(crate) struct Viewer {
    pub subject: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub permissions: Vec<EntityPermission>,
    /// Oversight's grants to the caller's role that are in force now.
    pub grants: Vec<super::grants::AccessGrant>,
}
