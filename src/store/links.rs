//! Links between firearm records. Each agency keeps its own record of a gun; two records taken for
//! the same gun are joined by a `firearm_link` row with the basis of the match (for now
//! `EXACT_SERIAL_MANUFACTURER`: the same normalized serial and manufacturer).
//!
//! Writes keep the links current ([`sync`] after a record is created, [`prune`] when no trace or
//! seizure holds a record any more). Reads follow a link only as the policy's `firearmLink` rule
//! allows ([`followed`]): the record across a link is another agency's row, so without a stated
//! purpose only links to the caller's own agency's records are followed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Utc;
use entity::{LinkBasis, firearm, firearm_link, seizure_firearm, trace};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::ConditionType;
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, JoinType, QueryFilter,
    QuerySelect, RelationDef,
};

use super::door::{Described, Field};
use crate::error::Result;
use crate::policy::{Access, EntityKind, Rows};

/// Ids per `IN (...)` list: a whole DataLoader level (at most `MAX_PAGE_SIZE²` keys) in one
/// statement, within both backends' limits on bound parameters (SQLite's 32,766; two lists of it
/// in `links_with_records`).
const CHUNK: usize = super::door::ID_CHUNK;
/// Links per multi-row `INSERT` (five values each).
const INSERT_CHUNK: usize = 500;

impl Described for firearm_link::Entity {
    type Row = firearm_link::Model;
    const KIND: EntityKind = EntityKind::FirearmLink;
    const FIELDS: &'static [Field<firearm_link::Model>] = &[
        Field::shown("basis"),
        Field::shown("createdAt"),
        Field::edge("firearm", EntityKind::Firearm),
    ];
}

/// What links compare of a record: its normalized serial and manufacturer. `None` without a
/// serial (such a record is linked to nothing).
fn match_key(f: &firearm::Model) -> Option<(String, String)> {
    let serial = f.serial_normalized.clone()?;
    Some((serial, firearm::normalize_manufacturer(&f.manufacturer)))
}

async fn firearms_by<C: ConnectionTrait, V: Into<sea_orm::Value> + Clone>(
    db: &C,
    column: firearm::Column,
    values: &[V],
) -> std::result::Result<Vec<firearm::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in values.chunks(CHUNK) {
        found.extend(
            firearm::Entity::find()
                .filter(column.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The links of these records (on either side), each with the records at both its ends (a record
/// asked for may also be across another one's link), in one statement.
async fn links_with_records<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> std::result::Result<Vec<(firearm_link::Model, firearm::Model)>, DbErr> {
    use firearm_link::Column as L;
    let either_end: RelationDef = firearm_link::Entity::belongs_to(firearm::Entity)
        .from(L::FirearmId)
        .to(firearm::Column::Id)
        .on_condition(|link, record| {
            Condition::all()
                .add(Expr::col((record, firearm::Column::Id)).equals((link, L::LinkedFirearmId)))
        })
        .condition_type(ConditionType::Any)
        .into();
    let mut found = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        found.extend(
            firearm_link::Entity::find()
                .join(JoinType::InnerJoin, either_end.clone())
                .select_also(firearm::Entity)
                .filter(
                    Condition::any()
                        .add(L::FirearmId.is_in(chunk.iter().copied()))
                        .add(L::LinkedFirearmId.is_in(chunk.iter().copied())),
                )
                .all(db)
                .await?
                .into_iter()
                .filter_map(|(link, record)| Some((link, record?))),
        );
    }
    Ok(found)
}

/// Inserts the exact links of `pairs` (lower id first).
async fn insert_pairs<C: ConnectionTrait>(
    db: &C,
    pairs: &BTreeSet<(i64, i64)>,
) -> std::result::Result<(), DbErr> {
    let now = Utc::now();
    let pairs: Vec<(i64, i64)> = pairs.iter().copied().collect();
    for chunk in pairs.chunks(INSERT_CHUNK) {
        firearm_link::Entity::insert_many(chunk.iter().map(|(a, b)| firearm_link::ActiveModel {
            id: NotSet,
            firearm_id: Set(*a),
            linked_firearm_id: Set(*b),
            basis: Set(LinkBasis::ExactSerialManufacturer),
            created_at: Set(now),
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Makes the exact links of these records current: each is linked to every other record with the
/// same normalized serial and manufacturer, and to nothing else. Returns the pairs that were not
/// linked before (lower id first).
pub(crate) async fn sync<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> std::result::Result<Vec<(i64, i64)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let records = firearms_by(db, firearm::Column::Id, ids).await?;
    let serials: Vec<String> = records
        .iter()
        .filter_map(|f| f.serial_normalized.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut by_key: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for f in firearms_by(db, firearm::Column::SerialNormalized, &serials).await? {
        if let Some(key) = match_key(&f) {
            by_key.entry(key).or_default().push(f.id);
        }
    }
    let mut pairs = BTreeSet::new();
    for f in &records {
        let Some(key) = match_key(f) else { continue };
        for other in by_key.get(&key).into_iter().flatten() {
            if *other != f.id {
                pairs.insert((std::cmp::min(f.id, *other), std::cmp::max(f.id, *other)));
            }
        }
    }
    let mut before = BTreeSet::new();
    for chunk in ids.chunks(CHUNK) {
        let held = firearm_link::Entity::find()
            .filter(
                Condition::any()
                    .add(firearm_link::Column::FirearmId.is_in(chunk.iter().copied()))
                    .add(firearm_link::Column::LinkedFirearmId.is_in(chunk.iter().copied())),
            )
            .all(db)
            .await?;
        before.extend(
            held.into_iter()
                .map(|l| (l.firearm_id, l.linked_firearm_id)),
        );
    }
    for chunk in ids.chunks(CHUNK) {
        firearm_link::Entity::delete_many()
            .filter(firearm_link::Column::Basis.eq(LinkBasis::ExactSerialManufacturer))
            .filter(
                Condition::any()
                    .add(firearm_link::Column::FirearmId.is_in(chunk.iter().copied()))
                    .add(firearm_link::Column::LinkedFirearmId.is_in(chunk.iter().copied())),
            )
            .exec(db)
            .await?;
    }
    insert_pairs(db, &pairs).await?;
    Ok(pairs.difference(&before).copied().collect())
}

/// Links every two records with the same normalized serial and manufacturer, for a database
/// filled in bulk (the demo data) and holding no links yet.
/// Only the records whose normalized serial another record shares are read (a small share of
/// them), so memory stays small at any scale.
pub(crate) async fn link_all<C: ConnectionTrait>(db: &C) -> std::result::Result<u64, DbErr> {
    let shared_serials = Query::select()
        .column(firearm::Column::SerialNormalized)
        .from(firearm::Entity)
        .and_where(firearm::Column::SerialNormalized.is_not_null())
        .group_by_col(firearm::Column::SerialNormalized)
        .and_having(Expr::col(firearm::Column::Id).count().gt(1))
        .to_owned();
    let mut groups: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
    for f in firearm::Entity::find()
        .filter(firearm::Column::SerialNormalized.in_subquery(shared_serials))
        .all(db)
        .await?
    {
        if let Some(key) = match_key(&f) {
            groups.entry(key).or_default().push(f.id);
        }
    }
    let mut pairs = BTreeSet::new();
    for ids in groups.values() {
        for (i, a) in ids.iter().enumerate() {
            for b in &ids[i + 1..] {
                pairs.insert((std::cmp::min(*a, *b), std::cmp::max(*a, *b)));
            }
        }
    }
    insert_pairs(db, &pairs).await?;
    Ok(pairs.len() as u64)
}

/// Deletes the records among `ids` that no trace and no seizure holds any more, with their links:
/// a record nobody holds would otherwise still show across its links.
pub(crate) async fn prune<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> std::result::Result<(), DbErr> {
    for chunk in ids.chunks(CHUNK) {
        let held_by_trace = Query::select()
            .expr(Expr::val(1))
            .from(trace::Entity)
            .and_where(
                Expr::col((trace::Entity, trace::Column::FirearmId))
                    .equals((firearm::Entity, firearm::Column::Id)),
            )
            .to_owned();
        let held_by_seizure = Query::select()
            .expr(Expr::val(1))
            .from(seizure_firearm::Entity)
            .and_where(
                Expr::col((seizure_firearm::Entity, seizure_firearm::Column::FirearmId))
                    .equals((firearm::Entity, firearm::Column::Id)),
            )
            .to_owned();
        let unheld: Vec<i64> = firearm::Entity::find()
            .filter(firearm::Column::Id.is_in(chunk.iter().copied()))
            .filter(Expr::exists(held_by_trace).not())
            .filter(Expr::exists(held_by_seizure).not())
            .all(db)
            .await?
            .into_iter()
            .map(|f| f.id)
            .collect();
        if unheld.is_empty() {
            continue;
        }
        firearm_link::Entity::delete_many()
            .filter(
                Condition::any()
                    .add(firearm_link::Column::FirearmId.is_in(unheld.iter().copied()))
                    .add(firearm_link::Column::LinkedFirearmId.is_in(unheld.iter().copied())),
            )
            .exec(db)
            .await?;
        firearm::Entity::delete_many()
            .filter(firearm::Column::Id.is_in(unheld))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The links the caller may follow from each of the records `ids` (which it reads), each with the
/// record across it. None when its role's `firearmLink` rule is "none"; without a stated purpose,
/// only links to records its own agency owns (the others are withheld, and the response says so).
pub(crate) async fn followed<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<(firearm_link::Model, firearm::Model)>>> {
    let mut out: HashMap<i64, Vec<(firearm_link::Model, firearm::Model)>> = HashMap::new();
    if access.rule(EntityKind::FirearmLink).rows != Rows::All || ids.is_empty() {
        return Ok(out);
    }
    let own_only = access.needs_purpose(EntityKind::FirearmLink);
    if own_only {
        access.withhold();
    }
    let asked: BTreeSet<i64> = ids.iter().copied().collect();
    let mut links: BTreeMap<i64, firearm_link::Model> = BTreeMap::new();
    let mut records: HashMap<i64, firearm::Model> = HashMap::new();
    for (link, record) in links_with_records(db, ids).await? {
        if !own_only || Some(record.owner_agency) == access.agency() {
            records.insert(record.id, record);
        }
        links.insert(link.id, link);
    }
    for link in links.into_values() {
        for (near, other) in [
            (link.firearm_id, link.linked_firearm_id),
            (link.linked_firearm_id, link.firearm_id),
        ] {
            if !asked.contains(&near) {
                continue;
            }
            if let Some(record) = records.get(&other) {
                out.entry(near)
                    .or_default()
                    .push((link.clone(), record.clone()));
            }
        }
    }
    for list in out.values_mut() {
        list.sort_by_key(|(_, f)| f.id);
    }
    Ok(out)
}

/// The links of each record for `Firearm.links`: the records across them recorded in the
/// request's trail and masked like any firearm the caller reads.
pub(crate) async fn by_firearms<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<(firearm_link::Model, firearm::Model)>>> {
    let mut out = followed(db, access, ids).await?;
    for list in out.values_mut() {
        access.touched(
            EntityKind::FirearmLink,
            list.iter().map(|(_, f)| f.owner_agency),
            list.len(),
        );
        for (_, record) in list.iter_mut() {
            *record = firearm::Entity::mask(access, record.clone());
        }
    }
    Ok(out)
}

/// Each record with the records of the same gun the caller may follow links to, in any number of
/// steps: the ids whose traces and seizures `Firearm.traces` and `Firearm.seizures` show. Records
/// with identical serials are all linked to each other, so one step reaches them; a confirmed
/// near-serial link joins two such groups, and the walk goes on through it, so every record of
/// either group reaches every record of the other, exactly as if the serials were identical.
/// Without a stated purpose the walk steps only onto the caller's own agency's records (another
/// agency's record is neither shown nor passed through), and the response says rows were withheld.
pub(crate) async fn same_gun<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = ids.iter().map(|id| (*id, vec![*id])).collect();
    if access.rule(EntityKind::FirearmLink).rows != Rows::All || ids.is_empty() {
        return Ok(out);
    }
    let only = if access.needs_purpose(EntityKind::FirearmLink) {
        access.withhold();
        match access.agency() {
            Some(agency) => Some(agency),
            None => return Ok(out),
        }
    } else {
        None
    };
    let asked: BTreeSet<i64> = ids.iter().copied().collect();
    let asked: Vec<i64> = asked.into_iter().collect();
    for chunk in asked.chunks(CHUNK) {
        for (start, id) in walk(db, chunk, only).await? {
            out.entry(start).or_default().push(id);
        }
    }
    Ok(out)
}

/// The records reachable from each of `ids` over links of any basis, in any number of steps, as
/// `(start, reached)` pairs (the start itself left out), in one recursive statement. `only`: step
/// onto that agency's records alone.
pub(crate) async fn walk<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
    only: Option<entity::Agency>,
) -> std::result::Result<Vec<(i64, i64)>, DbErr> {
    use sea_orm::{DbBackend, Statement};
    let backend = db.get_database_backend();
    let placeholder = |i: usize| match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => "?".to_owned(),
    };
    let list = (1..=ids.len())
        .map(placeholder)
        .collect::<Vec<_>>()
        .join(", ");
    let mut values: Vec<sea_orm::Value> = ids.iter().map(|id| (*id).into()).collect();
    let (links, other) = step(backend, "w.id");
    let owner = match only {
        Some(agency) => {
            values.push(agency.as_str().into());
            format!(
                " JOIN firearm f ON f.id = {other} AND f.owner_agency = {}",
                placeholder(ids.len() + 1)
            )
        }
        None => String::new(),
    };
    let sql = format!(
        "WITH RECURSIVE walk(start, id) AS ( \
           SELECT id, id FROM firearm WHERE id IN ({list}) \
           UNION \
           SELECT w.start, {other} FROM walk w {links}{owner} \
         ) SELECT start, id FROM walk WHERE id <> start"
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
        .collect()
}

/// SQL saying that the firearm record `column` is a record of a traced gun: a trace holds it, or
/// it is reached over links of any basis, in any number of steps, from a record a trace holds (the
/// walk of [`same_gun`] for a caller following every link). The walk starts from the traced
/// records that have a link at all, so it reads the links, not the traces.
pub(crate) fn of_a_traced_gun(backend: sea_orm::DbBackend, column: &str) -> String {
    let (links, other) = step(backend, "w.id");
    format!(
        "(EXISTS (SELECT 1 FROM trace mt WHERE mt.firearm_id = {column}) \
          OR {column} IN (WITH RECURSIVE traced(id) AS ( \
              SELECT mt.firearm_id FROM trace mt WHERE mt.firearm_id IN \
                (SELECT firearm_id FROM firearm_link UNION SELECT linked_firearm_id FROM firearm_link) \
              UNION \
              SELECT {other} FROM traced w {links} \
            ) SELECT id FROM traced))"
    )
}

/// The step of a recursive walk over links, as SQL to follow the walk's `FROM` item, and the
/// expression of the record it steps onto: the links at either end of the record `at` (a column
/// of the walk), and the record across each. PostgreSQL reads the two ends through a `LATERAL`
/// union of two index probes; SQLite, which has no `LATERAL`, joins the links by either end (an OR
/// its planner answers with the index of each end).
fn step(backend: sea_orm::DbBackend, at: &str) -> (String, String) {
    match backend {
        sea_orm::DbBackend::Postgres => (
            format!(
                "CROSS JOIN LATERAL ( \
                   SELECT linked_firearm_id AS other FROM firearm_link WHERE firearm_id = {at} \
                   UNION ALL SELECT firearm_id FROM firearm_link WHERE linked_firearm_id = {at}) e"
            ),
            "e.other".to_owned(),
        ),
        _ => (
            format!("JOIN firearm_link l ON l.firearm_id = {at} OR l.linked_firearm_id = {at}"),
            format!("CASE WHEN l.firearm_id = {at} THEN l.linked_firearm_id ELSE l.firearm_id END"),
        ),
    }
}

/// Every record id in `same_gun`'s answer, once each, in id order.
pub(crate) fn all_records(groups: &HashMap<i64, Vec<i64>>) -> Vec<i64> {
    groups
        .values()
        .flatten()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Makes the confirmed near-serial link of a seized record and a traced record exist or not (its
/// candidate's decisions say), and says whether that changed anything. Idempotent: a link already
/// there is kept (`ON CONFLICT DO NOTHING`). [`sync`] and [`prune`] leave such links alone while
/// both records are held: `sync` replaces only identical-serial links, `prune` removes only
/// records nobody holds.
pub(crate) async fn set_confirmed<C: ConnectionTrait>(
    db: &C,
    seized_firearm_id: i64,
    traced_firearm_id: i64,
    confirmed: bool,
) -> std::result::Result<bool, DbErr> {
    use sea_orm::sea_query::OnConflict;
    let (low, high) = (
        std::cmp::min(seized_firearm_id, traced_firearm_id),
        std::cmp::max(seized_firearm_id, traced_firearm_id),
    );
    if confirmed {
        let inserted = firearm_link::Entity::insert(firearm_link::ActiveModel {
            id: NotSet,
            firearm_id: Set(low),
            linked_firearm_id: Set(high),
            basis: Set(LinkBasis::ConfirmedNearSerial),
            created_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                firearm_link::Column::FirearmId,
                firearm_link::Column::LinkedFirearmId,
                firearm_link::Column::Basis,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        Ok(inserted > 0)
    } else {
        let removed = firearm_link::Entity::delete_many()
            .filter(firearm_link::Column::FirearmId.eq(low))
            .filter(firearm_link::Column::LinkedFirearmId.eq(high))
            .filter(firearm_link::Column::Basis.eq(LinkBasis::ConfirmedNearSerial))
            .exec(db)
            .await?;
        Ok(removed.rows_affected > 0)
    }
}
