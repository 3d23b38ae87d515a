//! Seizures, at the door: the seizure's descriptor, its filter and its grouping dimensions.

use std::collections::HashMap;

use entity::{seizure, seizure_firearm};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait};

use super::door::{self, Described, Field, OrderKey, Owned};
use super::filters::{SeizureDimension, SeizureFilter, SeizureOrderField};
use super::page::{KeyKind, KeyValue};
use super::scope::{date_range, int_range, one_of};
use super::stats::{DimKind, Grouped, Pred};
use crate::error::Result;
use crate::policy::{Access, EntityKind};

impl Described for seizure::Entity {
    type Row = seizure::Model;
    const KIND: EntityKind = EntityKind::Seizure;
    const FIELDS: &'static [Field<seizure::Model>] = &[
        Field::shown("id"),
        // Never null in the table; answered as null when hidden.
        Field::hideable("caseNumber", |m| m.case_number = String::new()),
        Field::shown("seizingAgency"),
        Field::shown("operation"),
        Field::shown("seizedOn"),
        Field::shown("fiscalYear"),
        Field::shown("usState"),
        Field::shown("portOfEntry"),
        Field::shown("direction"),
        Field::hideable("concealmentMethod", |m| m.concealment_method = None),
        Field::shown("ammunitionRounds"),
        Field::shown("firearmCount"),
        Field::shown("disposition"),
        Field::edge("firearms", EntityKind::Firearm),
        Field::shown("provenance"),
        Field::shown("version"),
    ];
}

impl Owned for seizure::Entity {
    type Filter = SeizureFilter;
    type OrderField = SeizureOrderField;
    const ID: seizure::Column = seizure::Column::Id;
    const OWNER: seizure::Column = seizure::Column::OwnerAgency;
    const NATURAL_KEY: seizure::Column = seizure::Column::CaseNumber;

    fn criteria(f: &SeizureFilter) -> Result<Condition> {
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
        Ok(c)
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
}

impl Grouped for seizure::Entity {
    type Dimension = SeizureDimension;

    fn dimension(dim: SeizureDimension) -> (SimpleExpr, DimKind) {
        use seizure::Column as S;
        let (column, kind) = match dim {
            SeizureDimension::FiscalYear => (S::FiscalYear, DimKind::Int),
            SeizureDimension::SeizingAgency => (S::SeizingAgency, DimKind::Text),
            SeizureDimension::UsState => (S::UsState, DimKind::Text),
            SeizureDimension::PortOfEntry => (S::PortOfEntry, DimKind::Text),
            SeizureDimension::Direction => (S::Direction, DimKind::Text),
            SeizureDimension::Operation => (S::Operation, DimKind::Text),
        };
        (Expr::col((seizure::Entity, column)), kind)
    }

    fn cell_criteria(f: &SeizureFilter) -> Option<Vec<Pred<SeizureDimension>>> {
        use SeizureDimension as D;
        // Every field named, so that a new one is never ignored here.
        let SeizureFilter {
            seized_between,
            fiscal_year,
            seizing_agency,
            us_state,
            port_of_entry,
            direction,
            operation,
            and: _,
            or: _,
            not: _,
        } = f;
        if seized_between.is_some() {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(range) = fiscal_year {
            parts.push(Pred::range(D::FiscalYear, range));
        }
        if let Some(v) = seizing_agency {
            parts.push(Pred::one_of(D::SeizingAgency, v)?);
        }
        if let Some(v) = us_state {
            parts.push(Pred::one_of(D::UsState, v)?);
        }
        if let Some(v) = port_of_entry {
            parts.push(Pred::one_of(D::PortOfEntry, v)?);
        }
        if let Some(v) = direction {
            parts.push(Pred::one_of(D::Direction, v)?);
        }
        if let Some(v) = operation {
            parts.push(Pred::one_of(D::Operation, v)?);
        }
        Some(parts)
    }

    fn sums() -> Vec<SimpleExpr> {
        use seizure::Column as S;
        vec![
            Expr::col((seizure::Entity, S::FirearmCount)),
            Expr::col((seizure::Entity, S::AmmunitionRounds)),
        ]
    }

    /// Protected sums of firearms and of rounds get at least ±2 firearms and ±50 rounds of noise.
    fn sum_floors() -> Vec<i64> {
        vec![2, 50]
    }
}

/// The readable seizures of each firearm, for the firearm → seizures edge: the seizures holding
/// the record, and those holding the records the caller may follow links to, in id order.
#[cfg(test)]
pub(crate) async fn by_firearms<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    firearm_ids: &[i64],
) -> Result<HashMap<i64, Vec<seizure::Model>>> {
    let groups = super::links::same_gun(db, access, firearm_ids).await?;
    by_groups(db, access, groups).await
}

/// `by_firearms` for records whose groups (`links::same_gun`) are already known.
pub(crate) async fn by_groups<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    groups: HashMap<i64, Vec<i64>>,
) -> Result<HashMap<i64, Vec<seizure::Model>>> {
    let all = super::links::all_records(&groups);
    let mut held: HashMap<i64, Vec<seizure::Model>> = HashMap::new();
    for chunk in all.chunks(door::ID_CHUNK) {
        let links = seizure_firearm::Column::FirearmId.is_in(chunk.iter().copied());
        for (link, s) in
            door::across::<seizure_firearm::Entity, seizure::Entity, _>(db, access, links).await?
        {
            held.entry(link.firearm_id).or_default().push(s);
        }
    }
    let mut out = HashMap::new();
    for (id, group) in groups {
        let mut seizures: Vec<seizure::Model> = group
            .iter()
            .filter_map(|f| held.get(f))
            .flatten()
            .cloned()
            .collect();
        seizures.sort_by_key(|s| s.id);
        seizures.dedup_by_key(|s| s.id);
        if !seizures.is_empty() {
            out.insert(id, seizures);
        }
    }
    Ok(out)
}
