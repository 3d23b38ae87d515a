//! Traces, at the door: the caller's rows, fields and aggregates only.

use std::collections::HashMap;

use entity::Agency;
use entity::{firearm, trace};
use sea_orm::sea_query::{Expr, ExprTrait, Func, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use super::door::{self, OrderKey, Owned};
use super::firearms;
use super::page::{KeyKind, KeyValue, Page, PageArgs};
use super::scope::{
    check_depth, combine, date_range, in_subquery, int_range, one_of, owned_rows, parse_filter,
    select_column, with_grants,
};
use super::stats::{
    DimKind, GroupedQuery, aggregate_mode, answer, not_a_dimension, unaligned, withheld,
};
use crate::error::Result;
use crate::graphql::inputs::{
    SortDirection, TraceDimension, TraceFilter, TraceOrder, TraceOrderField,
};
use crate::policy::suppression::Answer;
use crate::policy::{Access, Aggregates, EntityKind};

const KIND: EntityKind = EntityKind::Trace;

/// The rows of `trace` the caller may read.
pub fn visible(access: &Access) -> Result<Condition> {
    with_grants(
        access,
        KIND,
        owned_rows(access, KIND, trace::Column::OwnerAgency, None),
        |json| condition(&parse_filter::<TraceFilter>(json)?),
    )
}

/// Blanks the fields the caller may not read, so they never leave the store.
pub fn mask(access: &Access, mut model: trace::Model) -> trace::Model {
    if !access.can_read_field(KIND, "purchaserName") {
        model.purchaser_name = None;
    }
    if !access.can_read_field(KIND, "dealerLicense") {
        model.dealer_license = None;
    }
    if !access.can_read_field(KIND, "purchaseState") {
        model.purchase_state = None;
    }
    if !access.can_read_field(KIND, "purchaseDate") {
        model.purchase_date = None;
    }
    if !access.can_read_field(KIND, "recoveryMunicipality") {
        model.recovery_municipality = None;
    }
    if !access.can_read_field(KIND, "timeToCrimeDays") {
        model.time_to_crime_days = None;
    }
    model
}

/// The SQL condition of a filter.
pub fn condition(filter: &TraceFilter) -> Result<Condition> {
    condition_at(filter, 0)
}

fn condition_at(f: &TraceFilter, depth: usize) -> Result<Condition> {
    check_depth(depth)?;
    use trace::Column as T;
    let mut c = Condition::all();
    c = date_range(c, T::RecoveryDate, f.recovered_between.as_ref());
    c = int_range(c, T::RecoveryYear, f.year.as_ref());
    c = one_of(
        c,
        "recoveryState",
        T::RecoveryState,
        f.recovery_state.as_deref(),
    )?;
    c = one_of(c, "sourceClass", T::SourceClass, f.source_class.as_deref())?;
    c = one_of(c, "status", T::Status, f.status.as_deref())?;
    c = one_of(
        c,
        "purchaseState",
        T::PurchaseState,
        f.purchase_state.as_deref(),
    )?;
    let firearm_filter = firearms::FirearmCriteria {
        manufacturer: f.manufacturer.as_deref(),
        firearm_type: f.firearm_type.as_deref(),
        caliber: f.caliber.as_deref(),
        serial_number: f.serial_number.as_deref(),
    };
    if let Some(fc) = firearm_filter.condition()? {
        c = c.add(in_subquery(
            T::FirearmId,
            select_column(firearm::Entity, firearm::Column::Id, fc),
        ));
    }
    combine(
        c,
        f.and.as_deref(),
        f.or.as_deref(),
        f.not.as_deref(),
        depth,
        condition_at,
    )
}

impl Owned for trace::Entity {
    const KIND: EntityKind = KIND;

    fn visible(access: &Access) -> Result<Condition> {
        visible(access)
    }

    fn mask(access: &Access, model: trace::Model) -> trace::Model {
        mask(access, model)
    }

    fn owner(model: &trace::Model) -> Agency {
        model.owner_agency
    }

    fn id(model: &trace::Model) -> i64 {
        model.id
    }

    fn id_expr() -> SimpleExpr {
        Expr::col((trace::Entity, trace::Column::Id))
    }
}

fn order_key(field: TraceOrderField) -> OrderKey<trace::Model> {
    use trace::Column as T;
    match field {
        TraceOrderField::RecoveryDate => OrderKey {
            expr: Expr::col((trace::Entity, T::RecoveryDate)),
            kind: KeyKind::Date,
            value: |m| KeyValue::Text(m.recovery_date.to_string()),
        },
        TraceOrderField::TraceNumber => OrderKey {
            expr: Expr::col((trace::Entity, T::TraceNumber)),
            kind: KeyKind::Text,
            value: |m| KeyValue::Text(m.trace_number.clone()),
        },
        // Traces without a time-to-crime sort as -1, before every real value.
        TraceOrderField::TimeToCrimeDays => OrderKey {
            expr: SimpleExpr::from(Func::coalesce([
                Expr::col((trace::Entity, T::TimeToCrimeDays)),
                Expr::val(-1),
            ])),
            kind: KeyKind::Int,
            value: |m| KeyValue::Int(i64::from(m.time_to_crime_days.unwrap_or(-1))),
        },
    }
}

/// A page of the traces the caller may read.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&TraceFilter>,
    order: &[TraceOrder],
    args: &PageArgs,
) -> Result<Page<trace::Model>> {
    let filter = filter.map(condition).transpose()?;
    let order: Vec<_> = order
        .iter()
        .map(|o| (order_key(o.field), o.direction == Some(SortDirection::Desc)))
        .collect();
    door::list::<trace::Entity, _>(db, access, filter, &order, args).await
}

/// One of the traces by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<trace::Model>> {
    door::get::<trace::Entity, _>(db, access, id).await
}

/// The readable traces of each firearm, for the firearm → traces edge. Rows the caller may not
/// read are absent; a role without trace rows gets none.
pub async fn by_firearms<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    firearm_ids: &[i64],
) -> Result<HashMap<i64, Vec<trace::Model>>> {
    let mut out: HashMap<i64, Vec<trace::Model>> = HashMap::new();
    let Ok(scope) = visible(access) else {
        return Ok(out);
    };
    let rows = trace::Entity::find()
        .filter(scope)
        .filter(trace::Column::FirearmId.is_in(firearm_ids.iter().copied()))
        .order_by_asc(trace::Column::RecoveryDate)
        .order_by_asc(trace::Column::Id)
        .all(db)
        .await?;
    for m in rows {
        out.entry(m.firearm_id).or_default().push(mask(access, m));
    }
    access.touched(
        KIND,
        out.values().flatten().map(|m| m.owner_agency),
        out.values().map(Vec::len).sum(),
    );
    Ok(out)
}

/// Trace counts and median time-to-crime grouped by the given dimensions, computed in the database
/// over every trace matching the filter, answered as the caller's policy allows: exact, with small
/// cells suppressed, or FORBIDDEN.
pub async fn stats<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&TraceFilter>,
    group_by: &[TraceDimension],
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
    let query = grouped(cond, group_by);
    let groups = query.groups(db).await?;
    access.touched(KIND, KIND.possible_owners().iter().copied(), groups.len());
    let medians = query
        .medians(
            db,
            Expr::col((trace::Entity, trace::Column::TimeToCrimeDays)),
        )
        .await?;
    let withheld = withheld(db, access, mode, grouped(Condition::all(), group_by)).await?;
    Ok(answer(access, mode, groups, &medians, 0, &withheld))
}

/// The grouped query over traces matching `cond`.
fn grouped(cond: Condition, group_by: &[TraceDimension]) -> GroupedQuery {
    use trace::Column as T;
    let mut query = GroupedQuery::new(trace::Entity, cond);
    let needs_firearm = group_by.iter().any(|d| {
        matches!(
            d,
            TraceDimension::FirearmType | TraceDimension::Caliber | TraceDimension::Manufacturer
        )
    });
    if needs_firearm {
        query.select.inner_join(
            firearm::Entity,
            Expr::col((trace::Entity, T::FirearmId)).equals((firearm::Entity, firearm::Column::Id)),
        );
    }
    for dim in group_by {
        let (expr, kind): (SimpleExpr, DimKind) = match dim {
            TraceDimension::Year => (Expr::col((trace::Entity, T::RecoveryYear)), DimKind::Int),
            TraceDimension::RecoveryState => {
                (Expr::col((trace::Entity, T::RecoveryState)), DimKind::Text)
            }
            TraceDimension::SourceClass => {
                (Expr::col((trace::Entity, T::SourceClass)), DimKind::Text)
            }
            TraceDimension::Status => (Expr::col((trace::Entity, T::Status)), DimKind::Text),
            TraceDimension::PurchaseState => {
                (Expr::col((trace::Entity, T::PurchaseState)), DimKind::Text)
            }
            TraceDimension::FirearmType => (
                Expr::col((firearm::Entity, firearm::Column::FirearmType)),
                DimKind::Text,
            ),
            TraceDimension::Caliber => (
                Expr::col((firearm::Entity, firearm::Column::Caliber)),
                DimKind::Text,
            ),
            TraceDimension::Manufacturer => (
                Expr::col((firearm::Entity, firearm::Column::Manufacturer)),
                DimKind::Text,
            ),
        };
        query.dims.push((expr, kind));
    }
    query
}

/// For aggregate-only callers: every filtered dimension must be grouped by.
fn check_aligned(f: &TraceFilter, group_by: &[TraceDimension]) -> Result<()> {
    use TraceDimension as D;
    let grouped = |d: D| group_by.contains(&d);
    let checks: [(bool, &str, D, &str); 8] = [
        (f.year.is_some(), "year", D::Year, "YEAR"),
        (
            f.recovery_state.is_some(),
            "recoveryState",
            D::RecoveryState,
            "RECOVERY_STATE",
        ),
        (
            f.source_class.is_some(),
            "sourceClass",
            D::SourceClass,
            "SOURCE_CLASS",
        ),
        (f.status.is_some(), "status", D::Status, "STATUS"),
        (
            f.purchase_state.is_some(),
            "purchaseState",
            D::PurchaseState,
            "PURCHASE_STATE",
        ),
        (
            f.firearm_type.is_some(),
            "firearmType",
            D::FirearmType,
            "FIREARM_TYPE",
        ),
        (f.caliber.is_some(), "caliber", D::Caliber, "CALIBER"),
        (
            f.manufacturer.is_some(),
            "manufacturer",
            D::Manufacturer,
            "MANUFACTURER",
        ),
    ];
    for (used, field, dim, name) in checks {
        if used && !grouped(dim) {
            return Err(unaligned(field, name));
        }
    }
    if f.recovered_between.is_some() {
        return Err(not_a_dimension("recoveredBetween"));
    }
    if f.serial_number.is_some() {
        return Err(not_a_dimension("serialNumber"));
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
