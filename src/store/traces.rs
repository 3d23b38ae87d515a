//! Traces, at the door: the trace's descriptor, its filter and its grouping dimensions.

use entity::{firearm, trace};
use sea_orm::sea_query::{Expr, Func, SelectStatement, SimpleExpr};
use sea_orm::{Condition, ConnectionTrait};

use super::door::{Described, Field, OrderKey, Owned};
use super::filters::{TraceDimension, TraceFilter, TraceOrderField};
use super::firearms::{self, FirearmCriteria};
use super::page::{KeyKind, KeyValue, Merge};
use super::scope::{date_range, in_subquery, int_range, one_of, select_column};
use super::stats::{DimKind, Grouped, Pred};
use crate::error::Result;
use crate::policy::EntityKind;

impl Described for trace::Entity {
    type Row = trace::Model;
    const KIND: EntityKind = EntityKind::Trace;
    const FIELDS: &'static [Field<trace::Model>] = &[
        Field::shown("id"),
        Field::shown("traceNumber"),
        Field::edge("firearm", EntityKind::Firearm),
        Field::shown("requestingAgency"),
        Field::shown("recoveryDate"),
        Field::shown("recoveryState"),
        Field::hideable("recoveryMunicipality", |m| m.recovery_municipality = None),
        Field::shown("status"),
        Field::shown("sourceClass"),
        Field::shown("purchaseState"),
        Field::hideable("purchaseDate", |m| m.purchase_date = None),
        Field::shown("timeToCrimeDays"),
        Field::hideable("dealerLicense", |m| m.dealer_license = None),
        Field::hideable("purchaserName", |m| m.purchaser_name = None),
        Field::shown("provenance"),
        Field::shown("version"),
    ];
}

impl Owned for trace::Entity {
    type Filter = TraceFilter;
    type OrderField = TraceOrderField;
    const ID: trace::Column = trace::Column::Id;
    const OWNER: trace::Column = trace::Column::OwnerAgency;
    const NATURAL_KEY: trace::Column = trace::Column::TraceNumber;

    fn criteria(f: &TraceFilter) -> Result<Condition> {
        use trace::Column as T;
        let mut c = Condition::all();
        c = date_range(c, T::RecoveryDate, f.recovered_between.as_ref());
        c = int_range(c, T::RecoveryYear, f.year.as_ref());
        if let Some(range) = &f.fiscal_year {
            use sea_orm::sea_query::ExprTrait;
            let fy = recovery_fiscal_year;
            if let Some(min) = range.min {
                c = c.add(fy().gte(min));
            }
            if let Some(max) = range.max {
                c = c.add(fy().lte(max));
            }
        }
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
        let firearm_filter = FirearmCriteria {
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
        Ok(c)
    }

    /// Newest first across several recovery states: `idx_trace_state_date` (`recovery_state,
    /// recovery_date DESC, id`) yields each state's traces in the page's order, so the page merges
    /// one range per state instead of sorting every trace of the states.
    fn merge(f: &TraceFilter, order: &[(TraceOrderField, bool)]) -> Option<Merge> {
        if !matches!(order, [(TraceOrderField::RecoveryDate, true)]) {
            return None;
        }
        let mut states: Vec<&String> = f.recovery_state.as_ref()?.iter().collect();
        states.sort();
        states.dedup();
        Some(Merge {
            column: Expr::col((trace::Entity, trace::Column::RecoveryState)),
            values: states
                .into_iter()
                .map(|s| sea_orm::Value::from(s.clone()))
                .collect(),
        })
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
}

/// The U.S. federal fiscal year of a trace's recovery date: its calendar year, plus one from
/// October. The same expression on SQLite (dates stored as `YYYY-MM-DD` text) and PostgreSQL
/// (a `date`, whose text form is ISO): the month is characters 6 and 7 of the date as text.
fn recovery_fiscal_year() -> SimpleExpr {
    Expr::cust(
        "(trace.recovery_year + CASE WHEN SUBSTR(CAST(trace.recovery_date AS TEXT), 6, 2) >= '10' \
         THEN 1 ELSE 0 END)",
    )
}

impl Grouped for trace::Entity {
    type Dimension = TraceDimension;

    fn dimension(dim: TraceDimension) -> (SimpleExpr, DimKind) {
        use trace::Column as T;
        let own = |column: T| Expr::col((trace::Entity, column));
        let of_firearm = |column: firearm::Column| Expr::col((firearm::Entity, column));
        match dim {
            TraceDimension::Year => (own(T::RecoveryYear), DimKind::Int),
            TraceDimension::FiscalYear => (recovery_fiscal_year(), DimKind::Int),
            TraceDimension::RecoveryState => (own(T::RecoveryState), DimKind::Text),
            TraceDimension::SourceClass => (own(T::SourceClass), DimKind::Text),
            TraceDimension::Status => (own(T::Status), DimKind::Text),
            TraceDimension::PurchaseState => (own(T::PurchaseState), DimKind::Text),
            TraceDimension::FirearmType => {
                (of_firearm(firearm::Column::FirearmType), DimKind::Text)
            }
            TraceDimension::Caliber => (of_firearm(firearm::Column::Caliber), DimKind::Text),
            TraceDimension::Manufacturer => {
                (of_firearm(firearm::Column::Manufacturer), DimKind::Text)
            }
        }
    }

    fn join(select: &mut SelectStatement, dims: &[TraceDimension]) {
        use TraceDimension as D;
        if dims
            .iter()
            .any(|d| matches!(d, D::FirearmType | D::Caliber | D::Manufacturer))
        {
            firearms::join_to(select, Expr::col((trace::Entity, trace::Column::FirearmId)));
        }
    }

    fn cell_criteria(f: &TraceFilter) -> Option<Vec<Pred<TraceDimension>>> {
        use TraceDimension as D;
        // Every field named, so that a new one is never ignored here.
        let TraceFilter {
            recovered_between,
            year,
            fiscal_year,
            recovery_state,
            source_class,
            status,
            purchase_state,
            firearm_type,
            caliber,
            manufacturer,
            serial_number,
            and: _,
            or: _,
            not: _,
        } = f;
        if recovered_between.is_some() || serial_number.is_some() {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(range) = year {
            parts.push(Pred::range(D::Year, range));
        }
        if let Some(range) = fiscal_year {
            parts.push(Pred::range(D::FiscalYear, range));
        }
        if let Some(v) = recovery_state {
            parts.push(Pred::one_of(D::RecoveryState, v)?);
        }
        if let Some(v) = source_class {
            parts.push(Pred::one_of(D::SourceClass, v)?);
        }
        if let Some(v) = status {
            parts.push(Pred::one_of(D::Status, v)?);
        }
        if let Some(v) = purchase_state {
            parts.push(Pred::one_of(D::PurchaseState, v)?);
        }
        // The firearm's fields are a membership in the matching firearms: unknown is false.
        let mut firearm = Vec::new();
        if let Some(v) = manufacturer {
            firearm.push(Pred::one_of(D::Manufacturer, v)?);
        }
        if let Some(v) = firearm_type {
            firearm.push(Pred::one_of(D::FirearmType, v)?);
        }
        if let Some(v) = caliber {
            firearm.push(Pred::one_of(D::Caliber, v)?);
        }
        if !firearm.is_empty() {
            parts.push(Pred::IsTrue(Box::new(Pred::All(firearm))));
        }
        Some(parts)
    }

    fn median() -> Option<SimpleExpr> {
        Some(Expr::col((trace::Entity, trace::Column::TimeToCrimeDays)))
    }
}

/// The readable traces of each firearm, for the firearm → traces edge, oldest recovery first: the
/// traces holding the record, and those holding the records the caller may follow links to.
#[cfg(test)]
pub(crate) async fn by_firearms<C: ConnectionTrait>(
    db: &C,
    access: &crate::policy::Access,
    firearm_ids: &[i64],
) -> Result<std::collections::HashMap<i64, Vec<trace::Model>>> {
    let groups = super::links::same_gun(db, access, firearm_ids).await?;
    by_groups(db, access, groups).await
}

/// `by_firearms` for records whose groups (`links::same_gun`) are already known.
pub(crate) async fn by_groups<C: ConnectionTrait>(
    db: &C,
    access: &crate::policy::Access,
    groups: std::collections::HashMap<i64, Vec<i64>>,
) -> Result<std::collections::HashMap<i64, Vec<trace::Model>>> {
    let all = super::links::all_records(&groups);
    let held = super::door::by_parent::<trace::Entity, _>(
        db,
        access,
        trace::Column::FirearmId,
        |m| Some(m.firearm_id),
        trace::Column::RecoveryDate,
        &all,
    )
    .await?;
    Ok(groups
        .into_iter()
        .filter_map(|(id, group)| {
            let mut traces: Vec<trace::Model> = group
                .iter()
                .filter_map(|f| held.get(f))
                .flatten()
                .cloned()
                .collect();
            traces.sort_by_key(|t| (t.recovery_date, t.id));
            (!traces.is_empty()).then_some((id, traces))
        })
        .collect())
}
