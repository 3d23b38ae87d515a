//! Audit events, at the door: oversight reads every event; an agency reads the events that touched
//! its own data.

use entity::audit_event as event;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::door::{Described, Field};
use super::filters::AuditFilter;
use super::page::{KeyKind, KeyValue, Page, PageArgs, SortKey, keyset_page};
use super::scope::{check_list, rows_forbidden};
use crate::error::Result;
use crate::policy::{Access, EntityKind, Rows};

const KIND: EntityKind = EntityKind::AuditEvent;

impl Described for event::Entity {
    type Row = event::Model;
    const KIND: EntityKind = KIND;
    const FIELDS: &'static [Field<event::Model>] = &[
        Field::shown("id"),
        Field::shown("at"),
        Field::shown("subject"),
        Field::shown("role"),
        Field::shown("purpose"),
        Field::shown("operation"),
        Field::shown("documentHash"),
        Field::shown("entities"),
        Field::shown("rowsReturned"),
        Field::shown("outcome"),
    ];
}

/// The events the caller may read.
pub(crate) fn visible(access: &Access) -> Result<Condition> {
    match (access.rule(KIND).rows, access.agency()) {
        (Rows::All, _) => Ok(Condition::all()),
        // Accesses to the agency's own data by others (data-owner transparency).
        (Rows::Own, Some(agency)) => Ok(Condition::all()
            .add(event::Column::DataOwners.like(format!("%,{},%", agency.as_str())))
            .add(event::Column::Role.ne(agency.role()))),
        _ => Err(rows_forbidden(access, KIND)),
    }
}

fn condition(f: &AuditFilter) -> Result<Condition> {
    use event::Column as E;
    let mut c = Condition::all();
    if let Some(subject) = &f.subject {
        c = c.add(E::Subject.eq(subject.clone()));
    }
    if let Some(roles) = &f.role {
        check_list("role", roles)?;
        c = c.add(E::Role.is_in(roles.iter().copied()));
    }
    if let Some(outcomes) = &f.outcome {
        check_list("outcome", outcomes)?;
        c = c.add(E::Outcome.is_in(outcomes.clone()));
    }
    if let Some(range) = &f.between {
        // Dates are inclusive; `at` is a timestamp, so compare against the day boundaries.
        let from = range
            .from
            .and_then(|d| d.0.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc());
        let to = range
            .to
            .and_then(|d| d.0.succ_opt())
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc());
        if let Some(from) = from {
            c = c.add(E::At.gte(from));
        }
        if let Some(to) = to {
            c = c.add(E::At.lt(to));
        }
    }
    Ok(c)
}

/// A page of the audit events the caller may read, newest first.
pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&AuditFilter>,
    args: &PageArgs,
) -> Result<Page<event::Model>> {
    let mut select = event::Entity::find().filter(visible(access)?);
    if let Some(filter) = filter {
        select = select.filter(condition(filter)?);
    }
    let keys = [SortKey::new(
        Expr::col((event::Entity, event::Column::Id)),
        KeyKind::Int,
        true,
    )];
    keyset_page(db, select, &keys, args, None, |m| vec![KeyValue::Int(m.id)]).await
}
