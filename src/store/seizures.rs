//! Seizures, at the door.

use std::collections::HashMap;

use entity::Agency;
use entity::{seizure, seizure_firearm};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::door::{self, OrderKey, Owned};
use super::page::{KeyKind, KeyValue, Page, PageArgs};
use super::scope::{
    check_depth, combine, date_range, int_range, one_of, owned_rows, parse_filter, with_grants,
};
use super::stats::{
    DimKind, GroupedQuery, aggregate_mode, answer, not_a_dimension, unaligned, withheld,
};
use crate::error::Result;
use crate::graphql::inputs::{
    SeizureDimension, SeizureFilter, SeizureOrder, SeizureOrderField, SortDirection,
};
use crate::policy::suppression::Answer;
use crate::policy::{Access, Aggregates, EntityKind};

const KIND: EntityKind = EntityKind::Seizure;

/// The rows of `seizure` the caller may read.
pub fn visible(access: &Access) -> Result<Condition> {
    with_grants(
        access,
        KIND,
        owned_rows(access, KIND, seizure::Column::OwnerAgency, None),
        |json| condition(&parse_filter::<SeizureFilter>(json)?),
    )
}

/// Blanks the fields the caller may not read.
pub fn mask(access: &Access, mut model: seizure::Model) -> seizure::Model {
    if !access.can_read_field(KIND, "caseNumber") {
        model.case_number = String::new();
    }
    if !access.can_read_field(KIND, "operation") {
        model.operation = None;
    }
    if !access.can_read_field(KIND, "concealmentMethod") {
        model.concealment_method = None;
    }
    if !access.can_read_field(KIND, "portOfEntry") {
        model.port_of_entry = None;
    }
    model
}

/// The SQL condition of a filter.
pub fn condition(filter: &SeizureFilter) -> Result<Condition> {
    condition_at(filter, 0)
}

fn condition_at(f: &SeizureFilter, depth: usize) -> Result<Condition> {
    check_depth(depth)?;
    use seizure::Column as S;
    let mut c = Condition::all();
    c = date_range(c, S::SeizedOn, f.seized_between.as_ref());
    c = int_range(c, S::FiscalYear, f.fiscal_year.as_ref());
    c = one_of(
        c,
        "seizingAgency",
        S::SeizingAgency,
        f.seizing_agency.as_deref(),
    )?;
    c = one_of(c, "usState", S::UsState, f.us_state.as_deref())?;
    c = one_of(c, "portOfEntry", S::PortOfEntry, f.port_of_entry.as_deref())?;
    c = one_of(c, "direction", S::Direction, f.direction.as_deref())?;
    c = one_of(c, "operation", S::Operation, f.operation.as_deref())?;
    combine(
        c,
        f.and.as_deref(),
        f.or.as_deref(),
        f.not.as_deref(),
        depth,
        condition_at,
    )
}

impl Owned for seizure::Entity {
    const KIND: EntityKind = KIND;

    fn visible(access: &Access) -> Result<Condition> {
        visible(access)
    }

    fn mask(access: &Access, model: seizure::Model) -> seizure::Model {
        mask(access, model)
    }

    fn owner(model: &seizure::Model) -> Agency {
        model.owner_agency
    }

    fn id(model: &seizure::Model) -> i64 {
        model.id
    }

    fn id_expr() -> SimpleExpr {
        Expr::col((seizure::Entity, seizure::Column::Id))
    }
}

fn order_key(field: SeizureOrderField) -> OrderKey<seizure::Model> {
    use seizure::Column as S;
    match field {
        SeizureOrderField::SeizedOn => OrderKey {
            expr: Expr::col((seizure::Entity, S::SeizedOn)),
            kind: KeyKind::Date,
            value: |m| KeyValue::Text(m.seized_on.to_string()),
        },
        SeizureOrderField::FirearmCount => OrderKey {
            expr: Expr::col((seizure::Entity, S::FirearmCount)),
            kind: KeyKind::Int,
            value: |m| KeyValue::Int(i64::from(m.firearm_count)),
        },
    }
}

/// A page of the seizures the caller may read.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&SeizureFilter>,
    order: &[SeizureOrder],
    args: &PageArgs,
) -> Result<Page<seizure::Model>> {
    let filter = filter.map(condition).transpose()?;
    let order: Vec<_> = order
        .iter()
        .map(|o| (order_key(o.field), o.direction == Some(SortDirection::Desc)))
        .collect();
    door::list::<seizure::Entity, _>(db, access, filter, &order, args).await
}

/// One of the seizures by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<seizure::Model>> {
    door::get::<seizure::Entity, _>(db, access, id).await
}

/// The readable seizures of each firearm, for the firearm → seizures edge.
pub async fn by_firearms<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    firearm_ids: &[i64],
) -> Result<HashMap<i64, Vec<seizure::Model>>> {
    let mut out: HashMap<i64, Vec<seizure::Model>> = HashMap::new();
    let Ok(scope) = visible(access) else {
        return Ok(out);
    };
    let links = seizure_firearm::Entity::find()
        .filter(seizure_firearm::Column::FirearmId.is_in(firearm_ids.iter().copied()))
        .all(db)
        .await?;
    let seizure_ids: Vec<i64> = links.iter().map(|l| l.seizure_id).collect();
    let seizures: HashMap<i64, seizure::Model> = seizure::Entity::find()
        .filter(scope)
        .filter(seizure::Column::Id.is_in(seizure_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    for link in links {
        if let Some(s) = seizures.get(&link.seizure_id) {
            out.entry(link.firearm_id)
                .or_default()
                .push(mask(access, s.clone()));
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|s| (s.seized_on, s.id));
    }
    access.touched(
        KIND,
        out.values().flatten().map(|m| m.owner_agency),
        out.values().map(Vec::len).sum(),
    );
    Ok(out)
}

/// Seizure counts, firearms and rounds grouped by the given dimensions, in the database.
pub async fn stats<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&SeizureFilter>,
    group_by: &[SeizureDimension],
) -> Result<Answer> {
    let mode = aggregate_mode(access, KIND)?;
    if mode == Aggregates::Suppressed
        && let Some(filter) = filter
    {
        check_aligned(filter, group_by)?;
    }
    let cond = match filter {
        Some(filter) => condition(filter)?,
        None => Condition::all(),
    };
    let groups = grouped(cond, group_by).groups(db).await?;
    access.touched(KIND, KIND.possible_owners().iter().copied(), groups.len());
    let withheld = withheld(db, access, mode, grouped(Condition::all(), group_by)).await?;
    Ok(answer(access, mode, groups, &HashMap::new(), 2, &withheld))
}

/// The grouped query over the rows matching `cond`.
fn grouped(cond: Condition, group_by: &[SeizureDimension]) -> GroupedQuery {
    use seizure::Column as S;
    let mut query = GroupedQuery::new(seizure::Entity, cond);
    for dim in group_by {
        let (column, kind) = match dim {
            SeizureDimension::FiscalYear => (S::FiscalYear, DimKind::Int),
            SeizureDimension::SeizingAgency => (S::SeizingAgency, DimKind::Text),
            SeizureDimension::UsState => (S::UsState, DimKind::Text),
            SeizureDimension::PortOfEntry => (S::PortOfEntry, DimKind::Text),
            SeizureDimension::Direction => (S::Direction, DimKind::Text),
            SeizureDimension::Operation => (S::Operation, DimKind::Text),
        };
        query
            .dims
            .push((Expr::col((seizure::Entity, column)), kind));
    }
    query.sums = vec![
        SimpleExpr::from(Expr::col((seizure::Entity, S::FirearmCount))),
        SimpleExpr::from(Expr::col((seizure::Entity, S::AmmunitionRounds))),
    ];
    query
}

/// For aggregate-only callers: every filtered dimension must be grouped by.
fn check_aligned(f: &SeizureFilter, group_by: &[SeizureDimension]) -> Result<()> {
    use SeizureDimension as D;
    let checks: [(bool, &str, D, &str); 6] = [
        (
            f.fiscal_year.is_some(),
            "fiscalYear",
            D::FiscalYear,
            "FISCAL_YEAR",
        ),
        (
            f.seizing_agency.is_some(),
            "seizingAgency",
            D::SeizingAgency,
            "SEIZING_AGENCY",
        ),
        (f.us_state.is_some(), "usState", D::UsState, "US_STATE"),
        (
            f.port_of_entry.is_some(),
            "portOfEntry",
            D::PortOfEntry,
            "PORT_OF_ENTRY",
        ),
        (
            f.direction.is_some(),
            "direction",
            D::Direction,
            "DIRECTION",
        ),
        (
            f.operation.is_some(),
            "operation",
            D::Operation,
            "OPERATION",
        ),
    ];
    for (used, field, dim, name) in checks {
        if used && !group_by.contains(&dim) {
            return Err(unaligned(field, name));
        }
    }
    if f.seized_between.is_some() {
        return Err(not_a_dimension("seizedBetween"));
    }
    for sub in f
        .and
        .iter()
        .flatten()
        .chain(f.or.iter().flatten())
        .chain(f.not.as_deref())
    {
        check_aligned(sub, group_by)?;
    }
    Ok(())
}
