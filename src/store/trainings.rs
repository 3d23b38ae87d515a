//! Training events, at the door.

use std::collections::HashMap;

use entity::Agency;
use entity::training_event as training;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

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
    SortDirection, TrainingDimension, TrainingFilter, TrainingOrder, TrainingOrderField,
};
use crate::policy::suppression::Answer;
use crate::policy::{Access, Aggregates, EntityKind};

const KIND: EntityKind = EntityKind::Training;

/// The rows of `training_event` the caller may read.
pub fn visible(access: &Access) -> Result<Condition> {
    with_grants(
        access,
        KIND,
        owned_rows(access, KIND, training::Column::OwnerAgency, None),
        |json| condition(&parse_filter::<TrainingFilter>(json)?),
    )
}

/// Blanks the fields the caller may not read.
pub fn mask(access: &Access, mut model: training::Model) -> training::Model {
    if !access.can_read_field(KIND, "fundingAward") {
        model.funding_award_id = None;
    }
    if !access.can_read_field(KIND, "mexicanState") {
        model.mexican_state = None;
    }
    model
}

/// The SQL condition of a filter.
pub fn condition(filter: &TrainingFilter) -> Result<Condition> {
    condition_at(filter, 0)
}

fn condition_at(f: &TrainingFilter, depth: usize) -> Result<Condition> {
    check_depth(depth)?;
    use training::Column as T;
    let mut c = Condition::all();
    c = date_range(c, T::StartDate, f.held_between.as_ref());
    c = int_range(c, T::FiscalYear, f.fiscal_year.as_ref());
    c = one_of(c, "course", T::Course, f.course.as_deref())?;
    c = one_of(c, "provider", T::Provider, f.provider.as_deref())?;
    c = one_of(
        c,
        "mexicanState",
        T::MexicanState,
        f.mexican_state.as_deref(),
    )?;
    combine(
        c,
        f.and.as_deref(),
        f.or.as_deref(),
        f.not.as_deref(),
        depth,
        condition_at,
    )
}

impl Owned for training::Entity {
    const KIND: EntityKind = KIND;

    fn visible(access: &Access) -> Result<Condition> {
        visible(access)
    }

    fn mask(access: &Access, model: training::Model) -> training::Model {
        mask(access, model)
    }

    fn owner(model: &training::Model) -> Agency {
        model.owner_agency
    }

    fn id(model: &training::Model) -> i64 {
        model.id
    }

    fn id_expr() -> SimpleExpr {
        Expr::col((training::Entity, training::Column::Id))
    }
}

fn order_key(field: TrainingOrderField) -> OrderKey<training::Model> {
    use training::Column as T;
    match field {
        TrainingOrderField::StartDate => OrderKey {
            expr: Expr::col((training::Entity, T::StartDate)),
            kind: KeyKind::Date,
            value: |m| KeyValue::Text(m.start_date.to_string()),
        },
        TrainingOrderField::Participants => OrderKey {
            expr: Expr::col((training::Entity, T::Participants)),
            kind: KeyKind::Int,
            value: |m| KeyValue::Int(i64::from(m.participants)),
        },
    }
}

/// A page of the training events the caller may read.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&TrainingFilter>,
    order: &[TrainingOrder],
    args: &PageArgs,
) -> Result<Page<training::Model>> {
    let filter = filter.map(condition).transpose()?;
    let order: Vec<_> = order
        .iter()
        .map(|o| (order_key(o.field), o.direction == Some(SortDirection::Desc)))
        .collect();
    door::list::<training::Entity, _>(db, access, filter, &order, args).await
}

/// One of the training events by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<training::Model>> {
    door::get::<training::Entity, _>(db, access, id).await
}

/// The readable training events of each funding award, for the award → trainings edge.
pub async fn by_funding_awards<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    award_ids: &[i64],
) -> Result<HashMap<i64, Vec<training::Model>>> {
    let mut out: HashMap<i64, Vec<training::Model>> = HashMap::new();
    let Ok(scope) = visible(access) else {
        return Ok(out);
    };
    let rows = training::Entity::find()
        .filter(scope)
        .filter(training::Column::FundingAwardId.is_in(award_ids.iter().copied()))
        .order_by_asc(training::Column::StartDate)
        .order_by_asc(training::Column::Id)
        .all(db)
        .await?;
    for m in rows {
        if let Some(award) = m.funding_award_id {
            out.entry(award).or_default().push(mask(access, m));
        }
    }
    access.touched(
        KIND,
        out.values().flatten().map(|m| m.owner_agency),
        out.values().map(Vec::len).sum(),
    );
    Ok(out)
}

/// Training counts, participants and eTrace accounts grouped by the given dimensions.
pub async fn stats<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&TrainingFilter>,
    group_by: &[TrainingDimension],
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
fn grouped(cond: Condition, group_by: &[TrainingDimension]) -> GroupedQuery {
    use training::Column as T;
    let mut query = GroupedQuery::new(training::Entity, cond);
    for dim in group_by {
        let (column, kind) = match dim {
            TrainingDimension::FiscalYear => (T::FiscalYear, DimKind::Int),
            TrainingDimension::Course => (T::Course, DimKind::Text),
            TrainingDimension::Provider => (T::Provider, DimKind::Text),
            TrainingDimension::MexicanState => (T::MexicanState, DimKind::Text),
        };
        query
            .dims
            .push((Expr::col((training::Entity, column)), kind));
    }
    query.sums = vec![
        SimpleExpr::from(Expr::col((training::Entity, T::Participants))),
        SimpleExpr::from(Expr::col((training::Entity, T::EtraceAccountsGranted))),
    ];
    query
}

/// For aggregate-only callers: every filtered dimension must be grouped by.
fn check_aligned(f: &TrainingFilter, group_by: &[TrainingDimension]) -> Result<()> {
    use TrainingDimension as D;
    let checks: [(bool, &str, D, &str); 4] = [
        (
            f.fiscal_year.is_some(),
            "fiscalYear",
            D::FiscalYear,
            "FISCAL_YEAR",
        ),
        (f.course.is_some(), "course", D::Course, "COURSE"),
        (f.provider.is_some(), "provider", D::Provider, "PROVIDER"),
        (
            f.mexican_state.is_some(),
            "mexicanState",
            D::MexicanState,
            "MEXICAN_STATE",
        ),
    ];
    for (used, field, dim, name) in checks {
        if used && !group_by.contains(&dim) {
            return Err(unaligned(field, name));
        }
    }
    if f.held_between.is_some() {
        return Err(not_a_dimension("heldBetween"));
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
