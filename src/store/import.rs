//! The queries of the bulk import: look-ups for the referential checks, and the inserts and updates of
//! one import. Every function takes the caller's connection or transaction, so one import is one
//! transaction. The rows given to the `write_*` functions are already validated.
//!
//! Each record is written by its natural key through one versioned upsert ([`Upsert`]): a new key
//! is inserted, a stored record is updated only when a column the import sets differs (or what
//! hangs off it changed), conditionally on its version, and otherwise counted unchanged. An
//! entity's columns are named once, where its row becomes an active model.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    Agency, CourseKind, Direction, Disposition, FirearmType, FundingCategory, SourceClass,
    TraceStatus, agency, firearm, funding_award, seizure, seizure_firearm, trace, training_event,
};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{IntoValueTuple, ValueTuple};
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IdenStatic,
    IntoActiveModel, Iterable, ModelTrait, QueryFilter, Value,
};

/// Values per `IN (...)` list, well below every backend's limit on bound parameters.
const CHUNK: usize = 500;

/// Where the records of one import come from and when they arrived.
#[derive(Debug, Clone)]
pub(crate) struct Provenance {
    pub source_system: String,
    pub ingested_at: DateTime<Utc>,
    /// For an update through the API: the version the client read. Changing a record whose stored
    /// version differs fails with `DbErr::RecordNotUpdated`, and the update itself is conditional on
    /// that version, so two concurrent writers cannot both win.
    pub expected_version: Option<i32>,
}

impl Provenance {
    /// The version an update starts from: the client's, or the stored one.
    fn base_version(&self, stored: i32) -> Result<i32, DbErr> {
        match self.expected_version {
            Some(expected) if expected != stored => Err(DbErr::RecordNotUpdated),
            Some(expected) => Ok(expected),
            None => Ok(stored),
        }
    }
}

/// Updates one row only if it still has version `expected`; otherwise `DbErr::RecordNotUpdated`.
async fn update_checked<E, A, C>(
    db: &C,
    active: A,
    id: (E::Column, i64),
    version: (E::Column, i32),
) -> Result<(), DbErr>
where
    E: EntityTrait,
    A: ActiveModelTrait<Entity = E>,
    C: ConnectionTrait,
{
    let result = E::update_many()
        .set(active)
        .filter(id.0.eq(id.1))
        .filter(version.0.eq(version.1))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Err(DbErr::RecordNotUpdated);
    }
    Ok(())
}

/// What one import did, record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WriteCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// The ids of the records inserted or updated, in the order written.
    pub written: Vec<i64>,
    /// The firearm record pairs the write newly linked (lower id first).
    pub linked: Vec<(i64, i64)>,
}

impl WriteCounts {
    fn count(&mut self, written: Written) {
        match written {
            Written::Inserted(id) => {
                self.inserted += 1;
                self.written.push(id);
            }
            Written::Updated(id) => {
                self.updated += 1;
                self.written.push(id);
            }
            Written::Unchanged => self.unchanged += 1,
        }
    }
}

/// What the upsert of one record did, with the id of a record it wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Inserted(i64),
    Updated(i64),
    Unchanged,
}

/// A validated firearm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FirearmRow {
    pub manufacturer: String,
    pub model: Option<String>,
    pub firearm_type: FirearmType,
    pub caliber: Option<String>,
    pub serial_number: Option<String>,
    /// `entity::firearm::normalize_serial` of `serial_number`.
    pub serial_normalized: Option<String>,
    pub country_of_manufacture: Option<String>,
    pub importer: Option<String>,
}

/// A validated trace with its firearm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceRow {
    pub trace_number: String,
    pub requesting_agency: String,
    pub recovery_date: NaiveDate,
    pub recovery_year: i32,
    pub recovery_state: String,
    pub recovery_municipality: Option<String>,
    pub status: TraceStatus,
    pub source_class: SourceClass,
    pub purchase_state: Option<String>,
    pub purchase_date: Option<NaiveDate>,
    pub time_to_crime_days: Option<i32>,
    pub dealer_license: Option<String>,
    pub purchaser_name: Option<String>,
    pub owner_agency: Agency,
    pub firearm: FirearmRow,
}

/// A validated seizure with its firearms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeizureRow {
    pub case_number: String,
    pub seizing_agency: Agency,
    pub operation: Option<String>,
    pub seized_on: NaiveDate,
    pub fiscal_year: i32,
    pub us_state: String,
    pub port_of_entry: Option<String>,
    pub direction: Direction,
    pub concealment_method: Option<String>,
    pub ammunition_rounds: i64,
    pub disposition: Option<Disposition>,
    pub owner_agency: Agency,
    pub firearms: Vec<FirearmRow>,
}

/// A validated training event; the award number is already resolved to its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrainingRow {
    pub reference: String,
    pub course: CourseKind,
    pub provider: Agency,
    pub start_date: NaiveDate,
    pub end_date: NaiveDate,
    pub fiscal_year: i32,
    pub mexican_agency: String,
    pub mexican_state: Option<String>,
    pub participants: i32,
    pub etrace_accounts_granted: i32,
    pub funding_award_id: Option<i64>,
    pub owner_agency: Agency,
}

/// A validated funding award; amounts in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FundingRow {
    pub award_number: String,
    pub fiscal_year: i32,
    pub program: String,
    pub category: FundingCategory,
    pub implementing_agency: Option<Agency>,
    pub recipient: String,
    pub obligated_cents: i64,
    pub disbursed_cents: i64,
    pub description: Option<String>,
    pub owner_agency: Agency,
}

async fn find_in<E, C, V>(db: &C, column: E::Column, values: &[V]) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    C: ConnectionTrait,
    V: Into<sea_orm::Value> + Clone,
{
    let mut found = Vec::new();
    for chunk in values.chunks(CHUNK) {
        found.extend(
            E::find()
                .filter(column.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

fn as_vec(keys: &BTreeSet<String>) -> Vec<String> {
    keys.iter().cloned().collect()
}

/// The agencies among `codes` that exist, by code.
pub(crate) async fn agencies_by_code<C: ConnectionTrait>(
    db: &C,
    codes: &BTreeSet<String>,
) -> Result<HashMap<String, agency::Model>, DbErr> {
    let found = find_in::<agency::Entity, _, _>(db, agency::Column::Code, &as_vec(codes)).await?;
    Ok(found.into_iter().map(|a| (a.code.clone(), a)).collect())
}

/// The ids of the funding awards among `numbers` a write may reference, by award number. For a
/// caller (`reader`), those it may read, and those its agency's training events `keeping` (by
/// reference) already name: an award the caller cannot read is unknown, exactly like one that does
/// not exist. For the operator's import, every award.
pub(crate) async fn award_ids_by_number<C: ConnectionTrait>(
    db: &C,
    numbers: &BTreeSet<String>,
    reader: Option<&crate::policy::Access>,
    keeping: &BTreeSet<String>,
) -> Result<HashMap<String, i64>, DbErr> {
    use crate::store::door::Owned;
    // The readable awards are computed on a throwaway trail: a reference that resolves reads no
    // row withheld. Only an unresolved one says rows were withheld (below), the same whether the
    // award is missing or unreadable.
    let quiet = reader.map(|access| crate::policy::Access {
        trail: std::sync::Arc::new(crate::policy::Trail::default()),
        ..access.clone()
    });
    let numbers = as_vec(numbers);
    let mut found = Vec::new();
    for chunk in numbers.chunks(CHUNK) {
        let mut select = funding_award::Entity::find()
            .filter(funding_award::Column::AwardNumber.is_in(chunk.iter().cloned()));
        if let Some(access) = &quiet {
            let mut allowed = sea_orm::Condition::any();
            let mut some = false;
            if let Ok(readable) = funding_award::Entity::visible(access) {
                allowed = allowed.add(readable);
                some = true;
            }
            if let Some(agency) = access.agency()
                && !keeping.is_empty()
            {
                some = true;
                let kept = sea_orm::sea_query::Query::select()
                    .column(training_event::Column::FundingAwardId)
                    .from(training_event::Entity)
                    .and_where(training_event::Column::OwnerAgency.eq(agency))
                    .and_where(training_event::Column::Reference.is_in(keeping.iter().cloned()))
                    .and_where(training_event::Column::FundingAwardId.is_not_null())
                    .to_owned();
                allowed = allowed.add(funding_award::Column::Id.in_subquery(kept));
            }
            if some {
                select = select.filter(allowed);
            } else {
                select = select.filter(super::scope::nothing());
            }
        }
        found.extend(select.all(db).await?);
    }
    found.sort_by_key(|a| std::cmp::Reverse(a.id));
    let found: HashMap<String, i64> = found.into_iter().map(|a| (a.award_number, a.id)).collect();
    if let Some(access) = reader
        && access.needs_purpose(crate::policy::EntityKind::FundingAward)
        && numbers.iter().any(|n| !found.contains_key(n))
    {
        access.withhold();
    }
    Ok(found)
}

/// The owning agency of each existing record of `U` among `keys`, by natural key: only the acting
/// agency's records when there is one (natural keys are unique per owning agency, so another
/// agency's use of a key is neither a conflict nor the caller's business).
pub(crate) async fn owners_by_key<U: Upsert, C: ConnectionTrait>(
    db: &C,
    keys: &BTreeSet<String>,
    acting: Option<Agency>,
) -> Result<HashMap<String, Agency>, DbErr> {
    Ok(find_in::<U::Entity, _, _>(db, U::KEY, &as_vec(keys))
        .await?
        .iter()
        .map(U::stored)
        .filter(|stored| acting.is_none_or(|a| a == stored.owner))
        .map(|stored| (stored.key.to_owned(), stored.owner))
        .collect())
}

/// The firearm records an import may reuse: the writing agencies' own records sharing a
/// normalized serial and manufacturer with an incoming firearm, and those the records being
/// imported already hold. Another agency's record of the same gun is never reused, changed or
/// returned: the writer gets a record of its own, linked to the other ([`super::links`]).
struct FirearmIndex {
    /// By (owner, normalized serial, normalized manufacturer).
    by_serial: HashMap<(Agency, String, String), i64>,
    by_id: HashMap<i64, firearm::Model>,
    /// Records inserted by this import, to be linked once it has written them.
    inserted: Vec<i64>,
}

fn serial_key(owner: Agency, serial: &str, manufacturer: &str) -> (Agency, String, String) {
    (
        owner,
        serial.to_owned(),
        firearm::normalize_manufacturer(manufacturer),
    )
}

impl FirearmRow {
    /// A new firearm holding what the row says (its id left to the database).
    fn new_model(&self, owner: Agency, provenance: &Provenance) -> firearm::Model {
        firearm::Model {
            id: 0,
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            firearm_type: self.firearm_type,
            caliber: self.caliber.clone(),
            serial_number: self.serial_number.clone(),
            serial_normalized: self.serial_normalized.clone(),
            country_of_manufacture: self.country_of_manufacture.clone(),
            importer: self.importer.clone(),
            owner_agency: owner,
            source_system: provenance.source_system.clone(),
            ingested_at: provenance.ingested_at,
            version: 1,
        }
    }

    /// The stored firearm with its details replaced by the row's (id, owner, provenance and
    /// version kept).
    fn applied_to(&self, stored: &firearm::Model) -> firearm::Model {
        let kept = Provenance {
            source_system: stored.source_system.clone(),
            ingested_at: stored.ingested_at,
            expected_version: None,
        };
        firearm::Model {
            id: stored.id,
            version: stored.version,
            ..self.new_model(stored.owner_agency, &kept)
        }
    }

    /// Whether a stored firearm already holds exactly what the row says.
    fn describes(&self, stored: &firearm::Model) -> bool {
        self.applied_to(stored) == *stored
    }
}

/// Every column of a model, to be written.
fn all_set(model: firearm::Model) -> firearm::ActiveModel {
    model.into_active_model().reset_all()
}

fn fill(stored: &mut Option<String>, incoming: &Option<String>) -> bool {
    if stored.is_none() && incoming.is_some() {
        stored.clone_from(incoming);
        true
    } else {
        false
    }
}

impl FirearmIndex {
    async fn load<'a, C: ConnectionTrait>(
        db: &C,
        incoming: impl Iterator<Item = (Agency, &'a FirearmRow)>,
        linked: impl Iterator<Item = i64>,
    ) -> Result<FirearmIndex, DbErr> {
        let mut owners = BTreeSet::new();
        let mut serials = BTreeSet::new();
        for (owner, f) in incoming {
            owners.insert(owner);
            serials.extend(f.serial_normalized.clone());
        }
        let mut index = FirearmIndex {
            by_serial: HashMap::new(),
            by_id: HashMap::new(),
            inserted: Vec::new(),
        };
        let by_serial: Vec<firearm::Model> = find_in::<firearm::Entity, _, _>(
            db,
            firearm::Column::SerialNormalized,
            &as_vec(&serials),
        )
        .await?
        .into_iter()
        .filter(|f| owners.contains(&f.owner_agency))
        .collect();
        let ids: Vec<i64> = linked.collect::<BTreeSet<_>>().into_iter().collect();
        let by_id = find_in::<firearm::Entity, _, _>(db, firearm::Column::Id, &ids).await?;
        // Ascending ids, so the oldest firearm wins when older data holds duplicates.
        let mut all: Vec<_> = by_serial.into_iter().chain(by_id).collect();
        all.sort_by_key(|f| f.id);
        for f in all {
            index.remember(f);
        }
        Ok(index)
    }

    fn remember(&mut self, f: firearm::Model) {
        if let Some(serial) = &f.serial_normalized {
            self.by_serial
                .entry(serial_key(f.owner_agency, serial, &f.manufacturer))
                .or_insert(f.id);
        }
        self.by_id.insert(f.id, f);
    }

    /// The firearm id for `row` of a record `owner` writes, and whether anything was written for
    /// it. Only `owner`'s own records are candidates.
    ///
    /// A firearm with a serial is the owner's stored record with the same normalized serial and
    /// manufacturer: its recorded details are never overwritten, only missing ones filled in (so
    /// two of the owner's records describing one gun slightly differently cannot flip it back and
    /// forth); without one, a new record is inserted. A firearm without a serial can only be one
    /// already held by the record (`candidates`, not yet `used`): an exact match is reused, else
    /// one of the same manufacturer is updated in place, else a new one is inserted.
    async fn resolve<C: ConnectionTrait>(
        &mut self,
        db: &C,
        row: &FirearmRow,
        owner: Agency,
        candidates: &[i64],
        used: &HashSet<i64>,
        provenance: &Provenance,
    ) -> Result<(i64, bool), DbErr> {
        if let Some(serial) = &row.serial_normalized {
            let found = self
                .by_serial
                .get(&serial_key(owner, serial, &row.manufacturer))
                .and_then(|id| self.by_id.get(id))
                .filter(|f| f.owner_agency == owner)
                .cloned();
            if let Some(mut stored) = found {
                let mut changed = false;
                changed |= fill(&mut stored.model, &row.model);
                changed |= fill(&mut stored.caliber, &row.caliber);
                changed |= fill(
                    &mut stored.country_of_manufacture,
                    &row.country_of_manufacture,
                );
                changed |= fill(&mut stored.importer, &row.importer);
                if changed {
                    stored.version += 1;
                    stored.source_system.clone_from(&provenance.source_system);
                    stored.ingested_at = provenance.ingested_at;
                    let updated = all_set(stored).update(db).await?;
                    let id = updated.id;
                    self.remember(updated);
                    return Ok((id, true));
                }
                return Ok((stored.id, false));
            }
            return self.insert(db, row, owner, provenance).await;
        }
        let unlinked = |id: &&i64| {
            !used.contains(*id)
                && self
                    .by_id
                    .get(*id)
                    .is_some_and(|f| f.serial_normalized.is_none() && f.owner_agency == owner)
        };
        if let Some(id) = candidates
            .iter()
            .filter(unlinked)
            .find(|id| self.by_id.get(*id).is_some_and(|f| row.describes(f)))
        {
            return Ok((*id, false));
        }
        let same_maker = candidates.iter().filter(unlinked).find(|id| {
            self.by_id
                .get(*id)
                .is_some_and(|f| f.manufacturer.eq_ignore_ascii_case(&row.manufacturer))
        });
        if let Some(stored) = same_maker.and_then(|id| self.by_id.get(id)).cloned() {
            let replaced = firearm::Model {
                source_system: provenance.source_system.clone(),
                ingested_at: provenance.ingested_at,
                version: stored.version + 1,
                ..row.applied_to(&stored)
            };
            let updated = all_set(replaced).update(db).await?;
            let id = updated.id;
            self.remember(updated);
            return Ok((id, true));
        }
        self.insert(db, row, owner, provenance).await
    }

    async fn insert<C: ConnectionTrait>(
        &mut self,
        db: &C,
        row: &FirearmRow,
        owner: Agency,
        provenance: &Provenance,
    ) -> Result<(i64, bool), DbErr> {
        let mut active = all_set(row.new_model(owner, provenance));
        active.id = NotSet;
        let inserted = active.insert(db).await?;
        let id = inserted.id;
        self.remember(inserted);
        self.inserted.push(id);
        Ok((id, true))
    }

    /// Links the records this import inserted to the other records of the same guns, and deletes
    /// the records among `released` (held by the imported records before) nothing holds any more.
    /// Returns the pairs newly linked.
    async fn finish<C: ConnectionTrait>(
        &self,
        db: &C,
        released: &[i64],
    ) -> Result<Vec<(i64, i64)>, DbErr> {
        let linked = super::links::sync(db, &self.inserted).await?;
        super::links::prune(db, released).await?;
        Ok(linked)
    }
}

/// A validated row an import writes by natural key: the entity it becomes, its key, and the
/// columns it sets. The upsert compares every column the row sets with the stored record, and
/// adds the provenance ([`PROVENANCE`]) itself, so a new column is named only in
/// [`Upsert::active`].
pub(crate) trait Upsert: Sized {
    type Entity: EntityTrait;
    /// The natural key column.
    const KEY: Column<Self>;
    /// The id column.
    const ID: Column<Self>;
    /// The version column.
    const VERSION: Column<Self>;

    /// The row's natural key.
    fn key(&self) -> &str;

    /// The agency owning the row: natural keys are unique per owning agency.
    fn owner(&self) -> Agency;

    /// The columns the row sets; what hangs off it (a trace's firearm, a seizure's firearm
    /// count) is filled in by its writer, the provenance by the upsert.
    fn active(&self) -> Active<Self>;

    /// What the upsert reads of a stored record.
    fn stored(model: &Model<Self>) -> Stored<'_>;

    /// Inserts or updates the rows by natural key (rows with records hanging off them write
    /// those too).
    async fn write<C: ConnectionTrait>(
        db: &C,
        rows: &[Self],
        provenance: &Provenance,
    ) -> Result<WriteCounts, DbErr> {
        let existing = stored_by_key(db, rows).await?;
        let mut counts = WriteCounts::default();
        for row in rows {
            let stored = existing.get(&(row.owner(), row.key().to_owned()));
            let written = upsert::<Self, _>(db, stored, row.active(), false, provenance).await?;
            counts.count(written);
        }
        Ok(counts)
    }
}

type Column<U> = <<U as Upsert>::Entity as EntityTrait>::Column;
type Model<U> = <<U as Upsert>::Entity as EntityTrait>::Model;
type Active<U> = <<U as Upsert>::Entity as EntityTrait>::ActiveModel;

/// The columns that say where and when a record came from, not what it says: set by the upsert,
/// never compared.
const PROVENANCE: [&str; 4] = ["id", "source_system", "ingested_at", "version"];

/// What the upsert reads of a stored record.
pub(crate) struct Stored<'a> {
    pub id: i64,
    pub version: i32,
    pub key: &'a str,
    pub owner: Agency,
}

/// The stored records with the natural keys and owners of `rows`, by (owner, key).
async fn stored_by_key<U: Upsert, C: ConnectionTrait>(
    db: &C,
    rows: &[U],
) -> Result<HashMap<(Agency, String), Model<U>>, DbErr> {
    let keys: Vec<String> = rows.iter().map(|r| r.key().to_owned()).collect();
    let owners: HashSet<Agency> = rows.iter().map(Upsert::owner).collect();
    Ok(find_in::<U::Entity, _, _>(db, U::KEY, &keys)
        .await?
        .into_iter()
        .filter(|m| owners.contains(&U::stored(m).owner))
        .map(|m| {
            let stored = U::stored(&m);
            ((stored.owner, stored.key.to_owned()), m)
        })
        .collect())
}

/// Whether every column `active` sets, provenance aside, already holds that value in `stored`.
fn same_columns<E: EntityTrait>(stored: &E::Model, active: &E::ActiveModel) -> bool {
    E::Column::iter().all(|column| {
        PROVENANCE.contains(&column.as_str())
            || match active.get(column) {
                ActiveValue::Set(value) | ActiveValue::Unchanged(value) => {
                    stored.get(column) == value
                }
                ActiveValue::NotSet => true,
            }
    })
}

/// Sets the provenance columns: the import's source system and time, and `version`.
fn set_provenance<E: EntityTrait>(
    active: &mut E::ActiveModel,
    provenance: &Provenance,
    version: i32,
) -> Result<(), DbErr> {
    for column in E::Column::iter() {
        let value: Value = match column.as_str() {
            "source_system" => provenance.source_system.clone().into(),
            "ingested_at" => provenance.ingested_at.into(),
            "version" => version.into(),
            _ => continue,
        };
        active.try_set(column, value)?;
    }
    Ok(())
}

/// Inserts `active` when nothing is `stored` under its key; else updates the stored record when a
/// column differs or `dependents_changed`, conditionally on its version (the client's, when it
/// gave one), or leaves it unchanged.
async fn upsert<U: Upsert, C: ConnectionTrait>(
    db: &C,
    stored: Option<&Model<U>>,
    mut active: Active<U>,
    dependents_changed: bool,
    provenance: &Provenance,
) -> Result<Written, DbErr> {
    let Some(model) = stored else {
        set_provenance::<U::Entity>(&mut active, provenance, 1)?;
        let id = U::Entity::insert(active).exec(db).await?.last_insert_id;
        return Ok(Written::Inserted(inserted_id(id)?));
    };
    let stored = U::stored(model);
    let base = provenance.base_version(stored.version)?;
    if !dependents_changed && same_columns::<U::Entity>(model, &active) {
        return Ok(Written::Unchanged);
    }
    set_provenance::<U::Entity>(&mut active, provenance, base + 1)?;
    active.try_set(U::ID, stored.id.into())?;
    update_checked(db, active, (U::ID, stored.id), (U::VERSION, base)).await?;
    Ok(Written::Updated(stored.id))
}

/// The id the database gave an inserted record.
fn inserted_id(id: impl IntoValueTuple) -> Result<i64, DbErr> {
    match id.into_value_tuple() {
        ValueTuple::One(Value::BigInt(Some(id))) => Ok(id),
        other => Err(DbErr::Custom(format!(
            "an insert returned the id {other:?}, not one 64-bit integer"
        ))),
    }
}

/// The items of [`Upsert`] that follow from the entity and its natural key column and field.
macro_rules! keyed_by {
    ($entity:ident, $column:ident, $field:ident) => {
        type Entity = $entity::Entity;
        const KEY: $entity::Column = $entity::Column::$column;
        const ID: $entity::Column = $entity::Column::Id;
        const VERSION: $entity::Column = $entity::Column::Version;

        fn key(&self) -> &str {
            &self.$field
        }

        fn owner(&self) -> Agency {
            self.owner_agency
        }

        fn stored(model: &$entity::Model) -> Stored<'_> {
            Stored {
                id: model.id,
                version: model.version,
                key: &model.$field,
                owner: model.owner_agency,
            }
        }
    };
}

impl Upsert for TraceRow {
    keyed_by!(trace, TraceNumber, trace_number);

    /// Without its firearm, which the writer resolves.
    fn active(&self) -> trace::ActiveModel {
        trace::ActiveModel {
            trace_number: Set(self.trace_number.clone()),
            requesting_agency: Set(self.requesting_agency.clone()),
            recovery_date: Set(self.recovery_date),
            recovery_year: Set(self.recovery_year),
            recovery_state: Set(self.recovery_state.clone()),
            recovery_municipality: Set(self.recovery_municipality.clone()),
            status: Set(self.status),
            source_class: Set(self.source_class),
            purchase_state: Set(self.purchase_state.clone()),
            purchase_date: Set(self.purchase_date),
            time_to_crime_days: Set(self.time_to_crime_days),
            dealer_license: Set(self.dealer_license.clone()),
            purchaser_name: Set(self.purchaser_name.clone()),
            owner_agency: Set(self.owner_agency),
            ..Default::default()
        }
    }

    /// Traces by trace number, with their firearms.
    async fn write<C: ConnectionTrait>(
        db: &C,
        rows: &[Self],
        provenance: &Provenance,
    ) -> Result<WriteCounts, DbErr> {
        let mut existing = stored_by_key(db, rows).await?;
        let linked = existing.values().map(|t| t.firearm_id);
        let incoming: Vec<(Agency, &FirearmRow)> =
            rows.iter().map(|r| (r.owner_agency, &r.firearm)).collect();
        let mut firearms = FirearmIndex::load(db, incoming.into_iter(), linked).await?;
        let mut counts = WriteCounts::default();
        let mut released = Vec::new();
        for row in rows {
            let stored = existing.remove(&(row.owner_agency, row.trace_number.clone()));
            let candidates: Vec<i64> = stored.iter().map(|t| t.firearm_id).collect();
            let (firearm_id, firearm_changed) = firearms
                .resolve(
                    db,
                    &row.firearm,
                    row.owner_agency,
                    &candidates,
                    &HashSet::new(),
                    provenance,
                )
                .await?;
            let mut active = row.active();
            active.firearm_id = Set(firearm_id);
            let stored = stored.as_ref();
            let written =
                upsert::<Self, _>(db, stored, active, firearm_changed, provenance).await?;
            if let Some(before) = stored.map(|t| t.firearm_id)
                && written != Written::Unchanged
                && before != firearm_id
            {
                released.push(before);
            }
            counts.count(written);
        }
        counts.linked = firearms.finish(db, &released).await?;
        Ok(counts)
    }
}

impl Upsert for SeizureRow {
    keyed_by!(seizure, CaseNumber, case_number);

    /// Without its firearm count, which follows the links the writer resolves.
    fn active(&self) -> seizure::ActiveModel {
        seizure::ActiveModel {
            case_number: Set(self.case_number.clone()),
            seizing_agency: Set(self.seizing_agency),
            operation: Set(self.operation.clone()),
            seized_on: Set(self.seized_on),
            fiscal_year: Set(self.fiscal_year),
            us_state: Set(self.us_state.clone()),
            port_of_entry: Set(self.port_of_entry.clone()),
            direction: Set(self.direction),
            concealment_method: Set(self.concealment_method.clone()),
            ammunition_rounds: Set(self.ammunition_rounds),
            disposition: Set(self.disposition),
            owner_agency: Set(self.owner_agency),
            ..Default::default()
        }
    }

    /// Seizures by case number, with their firearms; `firearm_count` follows the links.
    async fn write<C: ConnectionTrait>(
        db: &C,
        rows: &[Self],
        provenance: &Provenance,
    ) -> Result<WriteCounts, DbErr> {
        let mut existing = stored_by_key(db, rows).await?;
        let seizure_ids: Vec<i64> = existing.values().map(|s| s.id).collect();
        let links = linked_firearms(db, &seizure_ids).await?;
        let mut incoming: Vec<(Agency, &FirearmRow)> = Vec::new();
        for row in rows {
            incoming.extend(row.firearms.iter().map(|f| (row.owner_agency, f)));
        }
        let linked = links.values().flatten().copied();
        let mut firearms = FirearmIndex::load(db, incoming.into_iter(), linked).await?;
        let mut counts = WriteCounts::default();
        let mut released = Vec::new();
        for row in rows {
            let stored = existing.remove(&(row.owner_agency, row.case_number.clone()));
            let had: Vec<i64> = stored
                .as_ref()
                .and_then(|s| links.get(&s.id))
                .cloned()
                .unwrap_or_default();
            let (ids, firearms_changed) =
                resolve_firearms(db, &mut firearms, row, &had, provenance).await?;
            let wanted: BTreeSet<i64> = ids.iter().copied().collect();
            let had: BTreeSet<i64> = had.into_iter().collect();
            let mut active = row.active();
            active.firearm_count = Set(i32::try_from(ids.len()).unwrap_or(i32::MAX));
            let changed = firearms_changed || wanted != had;
            let stored = stored.as_ref();
            let written = upsert::<Self, _>(db, stored, active, changed, provenance).await?;
            match written {
                Written::Inserted(id) => link_firearms(db, id, &ids).await?,
                Written::Updated(id) => {
                    relink_firearms(db, id, &had, &wanted).await?;
                    released.extend(had.difference(&wanted).copied());
                }
                Written::Unchanged => {}
            }
            counts.count(written);
        }
        counts.linked = firearms.finish(db, &released).await?;
        Ok(counts)
    }
}

impl Upsert for TrainingRow {
    keyed_by!(training_event, Reference, reference);

    fn active(&self) -> training_event::ActiveModel {
        training_event::ActiveModel {
            reference: Set(self.reference.clone()),
            course: Set(self.course),
            provider: Set(self.provider),
            start_date: Set(self.start_date),
            end_date: Set(self.end_date),
            fiscal_year: Set(self.fiscal_year),
            mexican_agency: Set(self.mexican_agency.clone()),
            mexican_state: Set(self.mexican_state.clone()),
            participants: Set(self.participants),
            etrace_accounts_granted: Set(self.etrace_accounts_granted),
            funding_award_id: Set(self.funding_award_id),
            owner_agency: Set(self.owner_agency),
            ..Default::default()
        }
    }
}

impl Upsert for FundingRow {
    keyed_by!(funding_award, AwardNumber, award_number);

    fn active(&self) -> funding_award::ActiveModel {
        funding_award::ActiveModel {
            award_number: Set(self.award_number.clone()),
            fiscal_year: Set(self.fiscal_year),
            program: Set(self.program.clone()),
            category: Set(self.category),
            implementing_agency: Set(self.implementing_agency),
            recipient: Set(self.recipient.clone()),
            obligated_cents: Set(self.obligated_cents),
            disbursed_cents: Set(self.disbursed_cents),
            description: Set(self.description.clone()),
            owner_agency: Set(self.owner_agency),
            ..Default::default()
        }
    }
}

/// The firearm ids linked to each of the seizures.
async fn linked_firearms<C: ConnectionTrait>(
    db: &C,
    seizure_ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, DbErr> {
    let mut links: HashMap<i64, Vec<i64>> = HashMap::new();
    for link in find_in::<seizure_firearm::Entity, _, _>(
        db,
        seizure_firearm::Column::SeizureId,
        seizure_ids,
    )
    .await?
    {
        links
            .entry(link.seizure_id)
            .or_default()
            .push(link.firearm_id);
    }
    Ok(links)
}

/// The ids of a seizure's firearms, in the row's order without repeats, and whether anything was
/// written for them. `linked` are the firearms the stored seizure holds.
async fn resolve_firearms<C: ConnectionTrait>(
    db: &C,
    firearms: &mut FirearmIndex,
    row: &SeizureRow,
    linked: &[i64],
    provenance: &Provenance,
) -> Result<(Vec<i64>, bool), DbErr> {
    let mut used = HashSet::new();
    let mut ids = Vec::with_capacity(row.firearms.len());
    let mut changed = false;
    for f in &row.firearms {
        let (id, written) = firearms
            .resolve(db, f, row.owner_agency, linked, &used, provenance)
            .await?;
        changed |= written;
        if used.insert(id) {
            ids.push(id);
        }
    }
    Ok((ids, changed))
}

/// Replaces the links of a seizure that held `had` by `wanted`.
async fn relink_firearms<C: ConnectionTrait>(
    db: &C,
    seizure_id: i64,
    had: &BTreeSet<i64>,
    wanted: &BTreeSet<i64>,
) -> Result<(), DbErr> {
    let removed: Vec<i64> = had.difference(wanted).copied().collect();
    if !removed.is_empty() {
        seizure_firearm::Entity::delete_many()
            .filter(seizure_firearm::Column::SeizureId.eq(seizure_id))
            .filter(seizure_firearm::Column::FirearmId.is_in(removed))
            .exec(db)
            .await?;
    }
    let added: Vec<i64> = wanted.difference(had).copied().collect();
    link_firearms(db, seizure_id, &added).await
}

async fn link_firearms<C: ConnectionTrait>(
    db: &C,
    seizure_id: i64,
    firearm_ids: &[i64],
) -> Result<(), DbErr> {
    for chunk in firearm_ids.chunks(CHUNK) {
        seizure_firearm::Entity::insert_many(chunk.iter().map(|firearm_id| {
            seizure_firearm::ActiveModel {
                seizure_id: Set(seizure_id),
                firearm_id: Set(*firearm_id),
            }
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}
