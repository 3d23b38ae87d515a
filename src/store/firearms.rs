//! Firearms, at the door. A firearm is shared between traces and seizures; a role reads the
//! firearms of the traces and seizures it may read ("linked"), so listing firearms never reveals
//! a trace or seizure the role could not see.

use std::collections::HashMap;

use entity::{Agency, FirearmType, firearm, seizure, seizure_firearm, trace};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};

use super::door::{self, Owned};
use super::page::{Page, PageArgs};
use super::scope::{check_list, rows_forbidden};
use super::{seizures, traces};
use crate::error::Result;
use crate::graphql::inputs::FirearmFilter;
use crate::policy::{Access, EntityKind, Rows};

const KIND: EntityKind = EntityKind::Firearm;

/// Firearm criteria shared by the firearm filter and the trace filter.
pub struct FirearmCriteria<'a> {
    pub manufacturer: Option<&'a [String]>,
    pub firearm_type: Option<&'a [FirearmType]>,
    pub caliber: Option<&'a [String]>,
    pub serial_number: Option<&'a str>,
}

impl FirearmCriteria<'_> {
    /// The condition on `firearm`, or `None` when no criterion is set.
    pub fn condition(&self) -> Result<Option<Condition>> {
        use firearm::Column as F;
        let mut c = Condition::all();
        let mut any = false;
        if let Some(values) = self.manufacturer {
            check_list("manufacturer", values)?;
            c = c.add(F::Manufacturer.is_in(values.iter().cloned()));
            any = true;
        }
        if let Some(values) = self.firearm_type {
            check_list("firearmType", values)?;
            c = c.add(F::FirearmType.is_in(values.iter().copied()));
            any = true;
        }
        if let Some(values) = self.caliber {
            check_list("caliber", values)?;
            c = c.add(F::Caliber.is_in(values.iter().cloned()));
            any = true;
        }
        if let Some(serial) = self.serial_number {
            // A serial with nothing left after normalization matches nothing.
            c = c.add(F::SerialNormalized.eq(firearm::normalize_serial(serial)));
            any = true;
        }
        Ok(any.then_some(c))
    }
}

/// The firearms the caller may read.
pub fn visible(access: &Access) -> Result<Condition> {
    match access.rule(KIND).rows {
        Rows::All => Ok(Condition::all()),
        // A role granted traces or seizures reads their firearms as if linked.
        rows if rows == Rows::Linked
            || (rows == Rows::None
                && (access.grants_for(EntityKind::Trace).next().is_some()
                    || access.grants_for(EntityKind::Seizure).next().is_some())) =>
        {
            // The links are read on a throwaway trail: building them is not reading another
            // agency's rows, so it must not report rows withheld.
            let access = &Access {
                trail: std::sync::Arc::new(crate::policy::Trail::default()),
                ..access.clone()
            };
            // Correlated EXISTS, so a lookup by id probes the indexes on trace.firearm_id and
            // seizure_firearm.firearm_id instead of materializing every traced firearm.
            let mut any = Condition::any();
            let mut linked = false;
            if let Ok(scope) = traces::visible(access) {
                let traced = Query::select()
                    .expr(Expr::val(1))
                    .from(trace::Entity)
                    .and_where(
                        Expr::col((trace::Entity, trace::Column::FirearmId))
                            .equals((firearm::Entity, firearm::Column::Id)),
                    )
                    .cond_where(scope)
                    .to_owned();
                any = any.add(Expr::exists(traced));
                linked = true;
            }
            if let Ok(scope) = seizures::visible(access) {
                let seized = Query::select()
                    .expr(Expr::val(1))
                    .from(seizure_firearm::Entity)
                    .inner_join(
                        seizure::Entity,
                        Expr::col((seizure::Entity, seizure::Column::Id))
                            .equals((seizure_firearm::Entity, seizure_firearm::Column::SeizureId)),
                    )
                    .and_where(
                        Expr::col((seizure_firearm::Entity, seizure_firearm::Column::FirearmId))
                            .equals((firearm::Entity, firearm::Column::Id)),
                    )
                    .cond_where(scope)
                    .to_owned();
                any = any.add(Expr::exists(seized));
                linked = true;
            }
            if linked {
                Ok(any)
            } else {
                Err(rows_forbidden(access, KIND))
            }
        }
        _ => Err(rows_forbidden(access, KIND)),
    }
}

/// Blanks the fields the caller may not read.
pub fn mask(access: &Access, mut model: firearm::Model) -> firearm::Model {
    if !access.can_read_field(KIND, "serialNumber") {
        model.serial_number = None;
        model.serial_normalized = None;
    }
    if !access.can_read_field(KIND, "importer") {
        model.importer = None;
    }
    model
}

impl Owned for firearm::Entity {
    const KIND: EntityKind = KIND;

    fn visible(access: &Access) -> Result<Condition> {
        visible(access)
    }

    fn mask(access: &Access, model: firearm::Model) -> firearm::Model {
        mask(access, model)
    }

    fn owner(model: &firearm::Model) -> Agency {
        model.owner_agency
    }

    fn id(model: &firearm::Model) -> i64 {
        model.id
    }

    fn id_expr() -> SimpleExpr {
        Expr::col((firearm::Entity, firearm::Column::Id))
    }
}

/// A page of the firearms the caller may read, in id order.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    filter: Option<&FirearmFilter>,
    args: &PageArgs,
) -> Result<Page<firearm::Model>> {
    let condition = match filter {
        Some(f) => FirearmCriteria {
            manufacturer: f.manufacturer.as_deref(),
            firearm_type: f.firearm_type.as_deref(),
            caliber: f.caliber.as_deref(),
            serial_number: f.serial_number.as_deref(),
        }
        .condition()?,
        None => None,
    };
    door::list::<firearm::Entity, _>(db, access, condition, &[], args).await
}

/// One firearm by id: `None` when it does not exist or is outside the caller's rows.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    id: i64,
) -> Result<Option<firearm::Model>> {
    door::get::<firearm::Entity, _>(db, access, id).await
}

/// Firearms by id, for DataLoader batches; ids outside the caller's rows are absent.
pub async fn by_ids<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    ids: &[i64],
) -> Result<HashMap<i64, firearm::Model>> {
    let Ok(scope) = visible(access) else {
        return Ok(HashMap::new());
    };
    let rows = firearm::Entity::find()
        .filter(scope)
        .filter(firearm::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    access.touched(KIND, rows.iter().map(|m| m.owner_agency), rows.len());
    Ok(rows.into_iter().map(|m| (m.id, mask(access, m))).collect())
}

/// The readable firearms of each seizure, for the seizure → firearms edge.
pub async fn by_seizures<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    seizure_ids: &[i64],
) -> Result<HashMap<i64, Vec<firearm::Model>>> {
    let mut out: HashMap<i64, Vec<firearm::Model>> = HashMap::new();
    let Ok(scope) = visible(access) else {
        return Ok(out);
    };
    let links = seizure_firearm::Entity::find()
        .filter(seizure_firearm::Column::SeizureId.is_in(seizure_ids.iter().copied()))
        .all(db)
        .await?;
    let firearm_ids: Vec<i64> = links.iter().map(|l| l.firearm_id).collect();
    let firearms: HashMap<i64, firearm::Model> = firearm::Entity::find()
        .filter(scope)
        .filter(firearm::Column::Id.is_in(firearm_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    for link in links {
        if let Some(f) = firearms.get(&link.firearm_id) {
            out.entry(link.seizure_id)
                .or_default()
                .push(mask(access, f.clone()));
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|f| f.id);
    }
    access.touched(
        KIND,
        out.values().flatten().map(|m| m.owner_agency),
        out.values().map(Vec::len).sum(),
    );
    Ok(out)
}
