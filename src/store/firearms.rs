//! Firearms, at the door. A firearm record is what one agency recorded about a gun, held by that
//! agency's traces or seizures; a role reads the records of the traces and seizures it may read
//! ("linked"), so listing firearms never reveals a trace or seizure the role could not see. Other
//! agencies' records of the same gun are reached across links (`links.rs`), as the policy's
//! `firearmLink` rule allows.

use std::collections::HashMap;

use entity::{FirearmType, firearm, seizure, seizure_firearm, trace};
use sea_orm::sea_query::{Expr, ExprTrait, Query, SelectStatement, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait};

use super::door::{self, Described, Field, OrderKey, Owned};
use super::filters::FirearmFilter;
use super::scope::{check_list, nothing, rows_forbidden};
use crate::error::Result;
use crate::policy::{Access, EntityKind, Rows};

const KIND: EntityKind = EntityKind::Firearm;

/// Firearm criteria shared by the firearm filter and the trace filter.
pub(crate) struct FirearmCriteria<'a> {
    pub manufacturer: Option<&'a [String]>,
    pub firearm_type: Option<&'a [FirearmType]>,
    pub caliber: Option<&'a [String]>,
    pub serial_number: Option<&'a str>,
}

impl FirearmCriteria<'_> {
    /// The condition on `firearm`, or `None` when no criterion is set.
    pub(crate) fn condition(&self) -> Result<Option<Condition>> {
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
            // A serial with nothing left after normalization matches nothing, not the firearms
            // recorded without a serial.
            c = c.add(match firearm::normalize_serial(serial) {
                Some(normalized) => Condition::all().add(F::SerialNormalized.eq(normalized)),
                None => nothing(),
            });
            any = true;
        }
        Ok(any.then_some(c))
    }
}

/// The firearms the caller may read.
pub(crate) fn visible(access: &Access) -> Result<Condition> {
    visible_as(access, super::backend_is_postgres())
}

/// The firearms the caller may read, for a statement that names its firearms by id: each named
/// firearm probed with the correlated EXISTS on both backends (see `visible_as`).
pub(crate) fn visible_probing(access: &Access) -> Result<Condition> {
    visible_as(access, true)
}

/// The firearms the caller may read, the link to its traces and seizures written as a correlated
/// EXISTS (`correlated`) or, on SQLite, as `IN (SELECT …)` over the whole slice (see below).
fn visible_as(access: &Access, correlated: bool) -> Result<Condition> {
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
            // How the link is written depends on the planner. SQLite: `firearm.id IN (SELECT
            // firearm_id … WHERE scope)`, evaluated once and driving a primary-key search of
            // `firearm`, so the work is bounded by the readable traces and seizures; a correlated
            // EXISTS there was searched once per firearm, through whatever index the scope's (or a
            // grant's) filter offered. PostgreSQL: a correlated EXISTS, which its planner makes a
            // semi-join (a grant's slice joined to `firearm`), or, under OR, a hashed subplan of
            // the slice. Over a role's own broad slice (its own or every agency's traces: at scale
            // 1 every trace) that hash reads the whole slice for each statement, even a page of 20,
            // so there `OFFSET 0` keeps the EXISTS an index probe of `firearm_id` per firearm the
            // statement reaches: as fast for a count of every firearm, and a page of 20 in under a
            // millisecond instead of a hundred. A slice read only through a grant stays a join.
            // A statement naming its firearms by id (a DataLoader batch) probes each of them on
            // SQLite too (`visible_by_ids`): `IN (SELECT …)` would read every readable trace's
            // firearm (2.2 million at scale 10) for a page of 50.
            // `same_firearm` is the subquery's firearm id equal to `firearm.id`; `whole` says the
            // role reads the entity's rows of its own right (not only through a grant).
            let link = |same_firearm: SimpleExpr, mut select: SelectStatement, whole: bool| {
                if correlated {
                    select.and_where(same_firearm);
                    if whole && super::backend_is_postgres() {
                        select.offset(0);
                    }
                    Expr::exists(select)
                } else {
                    Expr::col((firearm::Entity, firearm::Column::Id)).in_subquery(select)
                }
            };
            let mut any = Condition::any();
            let mut linked = false;
            if let Ok(scope) = trace::Entity::visible(access) {
                let whole = access.rule(EntityKind::Trace).rows != Rows::None;
                let traced = Query::select()
                    .column((trace::Entity, trace::Column::FirearmId))
                    .from(trace::Entity)
                    .cond_where(scope)
                    .to_owned();
                any = any.add(link(
                    Expr::col((trace::Entity, trace::Column::FirearmId))
                        .equals((firearm::Entity, firearm::Column::Id)),
                    traced,
                    whole,
                ));
                linked = true;
            }
            if let Ok(scope) = seizure::Entity::visible(access) {
                let whole = access.rule(EntityKind::Seizure).rows != Rows::None;
                let seized = Query::select()
                    .column((seizure_firearm::Entity, seizure_firearm::Column::FirearmId))
                    .from(seizure_firearm::Entity)
                    .inner_join(
                        seizure::Entity,
                        Expr::col((seizure::Entity, seizure::Column::Id))
                            .equals((seizure_firearm::Entity, seizure_firearm::Column::SeizureId)),
                    )
                    .cond_where(scope)
                    .to_owned();
                any = any.add(link(
                    Expr::col((seizure_firearm::Entity, seizure_firearm::Column::FirearmId))
                        .equals((firearm::Entity, firearm::Column::Id)),
                    seized,
                    whole,
                ));
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

/// The agencies whose firearm records a firearm read could reach: the caller's own, those holding
/// the traces and seizures it may read, and every holder when it may follow links.
fn reachable_owners(access: &Access) -> Vec<entity::Agency> {
    if access.rule(KIND).rows == Rows::All || access.rule(EntityKind::FirearmLink).rows == Rows::All
    {
        return KIND.possible_owners().to_vec();
    }
    let mut owners: Vec<entity::Agency> = access.agency().into_iter().collect();
    for holder in [EntityKind::Trace, EntityKind::Seizure] {
        let reads =
            access.rule(holder).rows != Rows::None || access.grants_for(holder).next().is_some();
        if reads {
            owners.extend(super::scope::reachable_owners(access, holder));
        }
    }
    owners.sort();
    owners.dedup();
    owners.retain(|o| KIND.possible_owners().contains(o));
    owners
}

/// The `firearm` table joined to a grouped query on `firearm_id`.
pub(crate) fn join_to(select: &mut SelectStatement, firearm_id: SimpleExpr) {
    select.inner_join(
        firearm::Entity,
        firearm_id.equals((firearm::Entity, firearm::Column::Id)),
    );
}

impl Described for firearm::Entity {
    type Row = firearm::Model;
    const KIND: EntityKind = KIND;
    const FIELDS: &'static [Field<firearm::Model>] = &[
        Field::shown("id"),
        Field::shown("manufacturer"),
        Field::shown("model"),
        Field::shown("type"),
        Field::shown("caliber"),
        Field::shown("serialNumber"),
        Field::shown("countryOfManufacture"),
        Field::hideable("importer", |m| m.importer = None),
        Field::shown("provenance"),
        Field::edge("traces", EntityKind::Trace),
        Field::edge("seizures", EntityKind::Seizure),
        Field::edge("links", EntityKind::FirearmLink),
    ];
}

impl Owned for firearm::Entity {
    type Filter = FirearmFilter;
    /// Firearms list in id order only.
    type OrderField = std::convert::Infallible;
    const ID: firearm::Column = firearm::Column::Id;
    const OWNER: firearm::Column = firearm::Column::OwnerAgency;
    const NATURAL_KEY: firearm::Column = firearm::Column::SerialNormalized;

    fn criteria(f: &FirearmFilter) -> Result<Condition> {
        let criteria = FirearmCriteria {
            manufacturer: f.manufacturer.as_deref(),
            firearm_type: f.firearm_type.as_deref(),
            caliber: f.caliber.as_deref(),
            serial_number: f.serial_number.as_deref(),
        };
        Ok(criteria.condition()?.unwrap_or_else(Condition::all))
    }

    fn order_key(field: std::convert::Infallible) -> OrderKey<firearm::Model> {
        match field {}
    }

    /// Every agency whose firearm records the read could reach sees it in the audit trail, whether
    /// or not any row comes back.
    fn visible(access: &Access) -> Result<Condition> {
        let rows = visible(access)?;
        access.touched(KIND, reachable_owners(access), 0);
        Ok(rows)
    }

    fn visible_by_ids(access: &Access) -> Result<Condition> {
        let rows = visible_as(access, true)?;
        access.touched(KIND, reachable_owners(access), 0);
        Ok(rows)
    }
}

/// The readable firearms of each seizure, for the seizure → firearms edge, in id order.
pub(crate) async fn by_seizures<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    seizure_ids: &[i64],
) -> Result<HashMap<i64, Vec<firearm::Model>>> {
    let mut out: HashMap<i64, Vec<firearm::Model>> = HashMap::new();
    let links = seizure_firearm::Column::SeizureId.is_in(seizure_ids.iter().copied());
    for (link, f) in
        door::across::<seizure_firearm::Entity, firearm::Entity, _>(db, access, links).await?
    {
        out.entry(link.seizure_id).or_default().push(f);
    }
    Ok(out)
}
