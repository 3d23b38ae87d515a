//! Funding awards, at the door.

use std::collections::HashMap;

use entity::funding_award as award;
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::page::{KeyKind, KeyValue, Page, PageArgs, SortKey, keyset_page};
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

fn sort_keys(order: &[FundingOrder]) -> Vec<SortKey> {
    use award::Column as A;
    let mut keys: Vec<SortKey> = order
        .iter()
        .map(|o| {
            let desc = o.direction == Some(SortDirection::Desc);
            match o.field {
                FundingOrderField::FiscalYear => SortKey::new(
                    Expr::col((award::Entity, A::FiscalYear)),
                    KeyKind::Int,
                    desc,
                ),
                FundingOrderField::Obligated => SortKey::new(
                    Expr::col((award::Entity, A::ObligatedCents)),
                    KeyKind::Int,
                    desc,
                ),
            }
        })
        .collect();
    keys.push(SortKey::new(
        Expr::col((award::Entity, A::Id)),
        KeyKind::Int,
        false,
    ));
    keys
}

fn key_of(order: &[FundingOrder], m: &award::Model) -> Vec<KeyValue> {
    let mut values: Vec<KeyValue> = order
        .iter()
        .map(|o| match o.field {
            FundingOrderField::FiscalYear => KeyValue::Int(i64::from(m.fiscal_year)),
            FundingOrderField::Obligated => KeyValue::Int(m.obligated_cents),
        })
        .collect();
    values.push(KeyValue::Int(m.id));
    values
}

/// A page of the funding awards the caller may read.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&FundingFilter>,
    order: &[FundingOrder],
    args: &PageArgs,
) -> Result<Page<award::Model>> {
    let mut select = award::Entity::find().filter(visible(access)?);
    if let Some(filter) = filter {
        select = select.filter(condition(filter)?);
    }
    let page = keyset_page(db, select, &sort_keys(order), args, |m| key_of(order, m)).await?;
    access.touched(
        KIND,
        page.rows.iter().map(|(_, m)| m.owner_agency),
        page.rows.len(),
    );
    Ok(page.map(|m| mask(access, m)))
}

/// One funding award by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<award::Model>> {
    let found = award::Entity::find_by_id(id)
        .filter(visible(access)?)
        .one(db)
        .await?;
    access.touched(
        KIND,
        found.iter().map(|m| m.owner_agency),
        usize::from(found.is_some()),
    );
    Ok(found.map(|m| mask(access, m)))
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
