//! Funding awards, at the door.

use std::collections::HashMap;

use entity::Agency;
use entity::funding_award as award;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::door::{self, OrderKey, Owned};
use super::page::{KeyKind, KeyValue, Page, PageArgs};
use super::scope::{
    check_depth, combine, int_range, one_of, owned_rows, parse_filter, with_grants,
};
use super::stats::{DimKind, GroupedQuery, aggregate_mode, answer, unaligned, withheld};
use crate::error::Result;
use crate::graphql::inputs::{
    FundingDimension, FundingFilter, FundingOrder, FundingOrderField, SortDirection,
};
use crate::policy::suppression::Answer;
use crate::policy::{Access, Aggregates, EntityKind};

const KIND: EntityKind = EntityKind::FundingAward;

/// The rows of `funding_award` the caller may read.
pub fn visible(access: &Access) -> Result<Condition> {
    with_grants(
        access,
        KIND,
        owned_rows(
            access,
            KIND,
            award::Column::OwnerAgency,
            Some(award::Column::ImplementingAgency),
        ),
        |json| condition(&parse_filter::<FundingFilter>(json)?),
    )
}

/// Blanks the fields the caller may not read.
pub fn mask(access: &Access, mut model: award::Model) -> award::Model {
    if !access.can_read_field(KIND, "description") {
        model.description = None;
    }
    model
}

/// The SQL condition of a filter.
pub fn condition(filter: &FundingFilter) -> Result<Condition> {
    condition_at(filter, 0)
}

fn condition_at(f: &FundingFilter, depth: usize) -> Result<Condition> {
    check_depth(depth)?;
    use award::Column as A;
    let mut c = Condition::all();
    c = int_range(c, A::FiscalYear, f.fiscal_year.as_ref());
    c = one_of(c, "category", A::Category, f.category.as_deref())?;
    c = one_of(
        c,
        "implementingAgency",
        A::ImplementingAgency,
        f.implementing_agency.as_deref(),
    )?;
    c = one_of(c, "program", A::Program, f.program.as_deref())?;
    combine(
        c,
        f.and.as_deref(),
        f.or.as_deref(),
        f.not.as_deref(),
        depth,
        condition_at,
    )
}

impl Owned for award::Entity {
    const KIND: EntityKind = KIND;

    fn visible(access: &Access) -> Result<Condition> {
        visible(access)
    }

    fn mask(access: &Access, model: award::Model) -> award::Model {
        mask(access, model)
    }

    fn owner(model: &award::Model) -> Agency {
        model.owner_agency
    }

    fn id(model: &award::Model) -> i64 {
        model.id
    }

    fn id_expr() -> SimpleExpr {
        Expr::col((award::Entity, award::Column::Id))
    }
}

fn order_key(field: FundingOrderField) -> OrderKey<award::Model> {
    use award::Column as A;
    match field {
        FundingOrderField::FiscalYear => OrderKey {
            expr: Expr::col((award::Entity, A::FiscalYear)),
            kind: KeyKind::Int,
            value: |m| KeyValue::Int(i64::from(m.fiscal_year)),
        },
        FundingOrderField::Obligated => OrderKey {
            expr: Expr::col((award::Entity, A::ObligatedCents)),
            kind: KeyKind::Int,
            value: |m| KeyValue::Int(m.obligated_cents),
        },
    }
}

/// A page of the funding awards the caller may read.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&FundingFilter>,
    order: &[FundingOrder],
    args: &PageArgs,
) -> Result<Page<award::Model>> {
    let filter = filter.map(condition).transpose()?;
    let order: Vec<_> = order
        .iter()
        .map(|o| (order_key(o.field), o.direction == Some(SortDirection::Desc)))
        .collect();
    door::list::<award::Entity, _>(db, access, filter, &order, args).await
}

/// One of the funding awards by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<award::Model>> {
    door::get::<award::Entity, _>(db, access, id).await
}

/// Funding awards by id, for DataLoader batches; ids outside the caller's rows are absent.
pub async fn by_ids<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    ids: &[i64],
) -> Result<HashMap<i64, award::Model>> {
    let Ok(scope) = visible(access) else {
        return Ok(HashMap::new());
    };
    let rows = award::Entity::find()
        .filter(scope)
        .filter(award::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    access.touched(KIND, rows.iter().map(|m| m.owner_agency), rows.len());
    Ok(rows.into_iter().map(|m| (m.id, mask(access, m))).collect())
}

/// Award counts and exact sums (integer cents) grouped by the given dimensions.
pub async fn stats<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&FundingFilter>,
    group_by: &[FundingDimension],
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
fn grouped(cond: Condition, group_by: &[FundingDimension]) -> GroupedQuery {
    use award::Column as A;
    let mut query = GroupedQuery::new(award::Entity, cond);
    for dim in group_by {
        let (column, kind) = match dim {
            FundingDimension::FiscalYear => (A::FiscalYear, DimKind::Int),
            FundingDimension::Category => (A::Category, DimKind::Text),
            FundingDimension::ImplementingAgency => (A::ImplementingAgency, DimKind::Text),
            FundingDimension::Program => (A::Program, DimKind::Text),
        };
        query.dims.push((Expr::col((award::Entity, column)), kind));
    }
    query.sums = vec![
        SimpleExpr::from(Expr::col((award::Entity, A::ObligatedCents))),
        SimpleExpr::from(Expr::col((award::Entity, A::DisbursedCents))),
    ];
    query
}

/// For aggregate-only callers: every filtered dimension must be grouped by.
fn check_aligned(f: &FundingFilter, group_by: &[FundingDimension]) -> Result<()> {
    use FundingDimension as D;
    let checks: [(bool, &str, D, &str); 4] = [
        (
            f.fiscal_year.is_some(),
            "fiscalYear",
            D::FiscalYear,
            "FISCAL_YEAR",
        ),
        (f.category.is_some(), "category", D::Category, "CATEGORY"),
        (
            f.implementing_agency.is_some(),
            "implementingAgency",
            D::ImplementingAgency,
            "IMPLEMENTING_AGENCY",
        ),
        (f.program.is_some(), "program", D::Program, "PROGRAM"),
    ];
    for (used, field, dim, name) in checks {
        if used && !group_by.contains(&dim) {
            return Err(unaligned(field, name));
        }
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
