//! The queries of the bulk import: look-ups for the referential checks, and the inserts and updates of
//! one import. Every function takes the caller's connection or transaction, so one import is one
//! transaction. The rows given to the `write_*` functions are already validated.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    Agency, CourseKind, Direction, FirearmType, FundingCategory, SourceClass, TraceStatus, agency,
    firearm, funding_award, seizure, seizure_firearm, trace, training_event,
};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

/// Values per `IN (...)` list, well below every backend's limit on bound parameters.
const CHUNK: usize = 500;

/// Where the records of one import come from and when they arrived.
#[derive(Debug, Clone)]
pub struct Provenance {
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// A validated firearm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirearmRow {
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
pub struct TraceRow {
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
pub struct SeizureRow {
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
    pub owner_agency: Agency,
    pub firearms: Vec<FirearmRow>,
}

/// A validated training event; the award number is already resolved to its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRow {
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
pub struct FundingRow {
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

/// The entities an import can write, by their natural key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NaturalKey {
    TraceNumber,
    CaseNumber,
    TrainingReference,
    AwardNumber,
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
pub async fn agencies_by_code<C: ConnectionTrait>(
    db: &C,
    codes: &BTreeSet<String>,
) -> Result<HashMap<String, agency::Model>, DbErr> {
    let found = find_in::<agency::Entity, _, _>(db, agency::Column::Code, &as_vec(codes)).await?;
    Ok(found.into_iter().map(|a| (a.code.clone(), a)).collect())
}

/// The ids of the funding awards among `numbers` that exist, by award number.
pub async fn award_ids_by_number<C: ConnectionTrait>(
    db: &C,
    numbers: &BTreeSet<String>,
) -> Result<HashMap<String, i64>, DbErr> {
    let found = find_in::<funding_award::Entity, _, _>(
        db,
        funding_award::Column::AwardNumber,
        &as_vec(numbers),
    )
    .await?;
    Ok(found.into_iter().map(|a| (a.award_number, a.id)).collect())
}

/// The owning agency of each existing record among `keys`, by natural key.
pub async fn owners_by_key<C: ConnectionTrait>(
    db: &C,
    key: NaturalKey,
    keys: &BTreeSet<String>,
) -> Result<HashMap<String, Agency>, DbErr> {
    let keys = as_vec(keys);
    Ok(match key {
        NaturalKey::TraceNumber => {
            find_in::<trace::Entity, _, _>(db, trace::Column::TraceNumber, &keys)
                .await?
                .into_iter()
                .map(|m| (m.trace_number, m.owner_agency))
                .collect()
        }
        NaturalKey::CaseNumber => {
            find_in::<seizure::Entity, _, _>(db, seizure::Column::CaseNumber, &keys)
                .await?
                .into_iter()
                .map(|m| (m.case_number, m.owner_agency))
                .collect()
        }
        NaturalKey::TrainingReference => {
            find_in::<training_event::Entity, _, _>(db, training_event::Column::Reference, &keys)
                .await?
                .into_iter()
                .map(|m| (m.reference, m.owner_agency))
                .collect()
        }
        NaturalKey::AwardNumber => {
            find_in::<funding_award::Entity, _, _>(db, funding_award::Column::AwardNumber, &keys)
                .await?
                .into_iter()
                .map(|m| (m.award_number, m.owner_agency))
                .collect()
        }
    })
}

/// The firearms an import may reuse: those sharing a normalized serial with an incoming firearm,
/// and those already linked to the records being imported.
struct FirearmIndex {
    /// By (normalized serial, lower-case manufacturer).
    by_serial: HashMap<(String, String), i64>,
    by_id: HashMap<i64, firearm::Model>,
}

fn serial_key(serial: &str, manufacturer: &str) -> (String, String) {
    (serial.to_owned(), manufacturer.trim().to_lowercase())
}

/// Whether a stored firearm already holds exactly what the row says.
fn same_firearm(stored: &firearm::Model, row: &FirearmRow) -> bool {
    stored.manufacturer == row.manufacturer
        && stored.model == row.model
        && stored.firearm_type == row.firearm_type
        && stored.caliber == row.caliber
        && stored.serial_number == row.serial_number
        && stored.serial_normalized == row.serial_normalized
        && stored.country_of_manufacture == row.country_of_manufacture
        && stored.importer == row.importer
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
        incoming: impl Iterator<Item = &'a FirearmRow>,
        linked: impl Iterator<Item = i64>,
    ) -> Result<FirearmIndex, DbErr> {
        let serials: BTreeSet<String> = incoming
            .filter_map(|f| f.serial_normalized.clone())
            .collect();
        let mut index = FirearmIndex {
            by_serial: HashMap::new(),
            by_id: HashMap::new(),
        };
        let by_serial = find_in::<firearm::Entity, _, _>(
            db,
            firearm::Column::SerialNormalized,
            &as_vec(&serials),
        )
        .await?;
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
                .entry(serial_key(serial, &f.manufacturer))
                .or_insert(f.id);
        }
        self.by_id.insert(f.id, f);
    }

    /// The firearm id for `row`, and whether anything was written for it.
    ///
    /// A firearm with a serial is the stored one with the same normalized serial and manufacturer:
    /// its recorded details are never overwritten, only missing ones filled in (so two records
    /// describing one gun slightly differently cannot flip it back and forth). A firearm without a
    /// serial can only be one already linked to the record (`candidates`, not yet `used`): an exact
    /// match is reused, else one of the same manufacturer is updated in place, else a new one is
    /// inserted.
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
                .get(&serial_key(serial, &row.manufacturer))
                .and_then(|id| self.by_id.get(id))
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
                if changed && stored.owner_agency == owner {
                    stored.version += 1;
                    stored.source_system.clone_from(&provenance.source_system);
                    stored.ingested_at = provenance.ingested_at;
                    let updated = firearm_active(&stored).update(db).await?;
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
                    .is_some_and(|f| f.serial_normalized.is_none())
        };
        if let Some(id) = candidates
            .iter()
            .filter(unlinked)
            .find(|id| self.by_id.get(*id).is_some_and(|f| same_firearm(f, row)))
        {
            return Ok((*id, false));
        }
        let same_maker = candidates.iter().filter(unlinked).find(|id| {
            self.by_id.get(*id).is_some_and(|f| {
                f.owner_agency == owner && f.manufacturer.eq_ignore_ascii_case(&row.manufacturer)
            })
        });
        if let Some(stored) = same_maker.and_then(|id| self.by_id.get(id)).cloned() {
            let replaced = firearm::Model {
                manufacturer: row.manufacturer.clone(),
                model: row.model.clone(),
                firearm_type: row.firearm_type,
                caliber: row.caliber.clone(),
                serial_number: row.serial_number.clone(),
                serial_normalized: row.serial_normalized.clone(),
                country_of_manufacture: row.country_of_manufacture.clone(),
                importer: row.importer.clone(),
                source_system: provenance.source_system.clone(),
                ingested_at: provenance.ingested_at,
                version: stored.version + 1,
                ..stored
            };
            let updated = firearm_active(&replaced).update(db).await?;
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
        let inserted = firearm::ActiveModel {
            id: NotSet,
            manufacturer: Set(row.manufacturer.clone()),
            model: Set(row.model.clone()),
            firearm_type: Set(row.firearm_type),
            caliber: Set(row.caliber.clone()),
            serial_number: Set(row.serial_number.clone()),
            serial_normalized: Set(row.serial_normalized.clone()),
            country_of_manufacture: Set(row.country_of_manufacture.clone()),
            importer: Set(row.importer.clone()),
            owner_agency: Set(owner),
            source_system: Set(provenance.source_system.clone()),
            ingested_at: Set(provenance.ingested_at),
            version: Set(1),
        }
        .insert(db)
        .await?;
        let id = inserted.id;
        self.remember(inserted);
        Ok((id, true))
    }
}

fn firearm_active(f: &firearm::Model) -> firearm::ActiveModel {
    firearm::ActiveModel {
        id: Set(f.id),
        manufacturer: Set(f.manufacturer.clone()),
        model: Set(f.model.clone()),
        firearm_type: Set(f.firearm_type),
        caliber: Set(f.caliber.clone()),
        serial_number: Set(f.serial_number.clone()),
        serial_normalized: Set(f.serial_normalized.clone()),
        country_of_manufacture: Set(f.country_of_manufacture.clone()),
        importer: Set(f.importer.clone()),
        owner_agency: Set(f.owner_agency),
        source_system: Set(f.source_system.clone()),
        ingested_at: Set(f.ingested_at),
        version: Set(f.version),
    }
}

/// Inserts or updates traces by trace number, with their firearms.
pub async fn write_traces<C: ConnectionTrait>(
    db: &C,
    rows: &[TraceRow],
    provenance: &Provenance,
) -> Result<WriteCounts, DbErr> {
    let numbers: Vec<String> = rows.iter().map(|r| r.trace_number.clone()).collect();
    let mut existing: HashMap<String, trace::Model> =
        find_in::<trace::Entity, _, _>(db, trace::Column::TraceNumber, &numbers)
            .await?
            .into_iter()
            .map(|t| (t.trace_number.clone(), t))
            .collect();
    let mut firearms = FirearmIndex::load(
        db,
        rows.iter().map(|r| &r.firearm),
        existing.values().map(|t| t.firearm_id),
    )
    .await?;
    let mut counts = WriteCounts::default();
    for row in rows {
        let current = existing.remove(&row.trace_number);
        let candidates: Vec<i64> = current.iter().map(|t| t.firearm_id).collect();
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
        let mut active = trace::ActiveModel {
            id: NotSet,
            trace_number: Set(row.trace_number.clone()),
            firearm_id: Set(firearm_id),
            requesting_agency: Set(row.requesting_agency.clone()),
            recovery_date: Set(row.recovery_date),
            recovery_year: Set(row.recovery_year),
            recovery_state: Set(row.recovery_state.clone()),
            recovery_municipality: Set(row.recovery_municipality.clone()),
            status: Set(row.status),
            source_class: Set(row.source_class),
            purchase_state: Set(row.purchase_state.clone()),
            purchase_date: Set(row.purchase_date),
            time_to_crime_days: Set(row.time_to_crime_days),
            dealer_license: Set(row.dealer_license.clone()),
            purchaser_name: Set(row.purchaser_name.clone()),
            owner_agency: Set(row.owner_agency),
            source_system: Set(provenance.source_system.clone()),
            ingested_at: Set(provenance.ingested_at),
            version: Set(1),
        };
        match current {
            None => {
                trace::Entity::insert(active).exec(db).await?;
                counts.inserted += 1;
            }
            Some(stored) => {
                let same = stored.firearm_id == firearm_id
                    && stored.requesting_agency == row.requesting_agency
                    && stored.recovery_date == row.recovery_date
                    && stored.recovery_year == row.recovery_year
                    && stored.recovery_state == row.recovery_state
                    && stored.recovery_municipality == row.recovery_municipality
                    && stored.status == row.status
                    && stored.source_class == row.source_class
                    && stored.purchase_state == row.purchase_state
                    && stored.purchase_date == row.purchase_date
                    && stored.time_to_crime_days == row.time_to_crime_days
                    && stored.dealer_license == row.dealer_license
                    && stored.purchaser_name == row.purchaser_name
                    && stored.owner_agency == row.owner_agency;
                if same && !firearm_changed {
                    provenance.base_version(stored.version)?;
                    counts.unchanged += 1;
                } else {
                    active.id = Set(stored.id);
                    let base = provenance.base_version(stored.version)?;
                    active.version = Set(base + 1);
                    update_checked(
                        db,
                        active,
                        (trace::Column::Id, stored.id),
                        (trace::Column::Version, base),
                    )
                    .await?;
                    counts.updated += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// Inserts or updates seizures by case number, with their firearms; `firearm_count` follows the
/// links.
pub async fn write_seizures<C: ConnectionTrait>(
    db: &C,
    rows: &[SeizureRow],
    provenance: &Provenance,
) -> Result<WriteCounts, DbErr> {
    let cases: Vec<String> = rows.iter().map(|r| r.case_number.clone()).collect();
    let mut existing: HashMap<String, seizure::Model> =
        find_in::<seizure::Entity, _, _>(db, seizure::Column::CaseNumber, &cases)
            .await?
            .into_iter()
            .map(|s| (s.case_number.clone(), s))
            .collect();
    let seizure_ids: Vec<i64> = existing.values().map(|s| s.id).collect();
    let mut links: HashMap<i64, Vec<i64>> = HashMap::new();
    for link in find_in::<seizure_firearm::Entity, _, _>(
        db,
        seizure_firearm::Column::SeizureId,
        &seizure_ids,
    )
    .await?
    {
        links
            .entry(link.seizure_id)
            .or_default()
            .push(link.firearm_id);
    }
    let mut firearms = FirearmIndex::load(
        db,
        rows.iter().flat_map(|r| r.firearms.iter()),
        links.values().flatten().copied(),
    )
    .await?;
    let mut counts = WriteCounts::default();
    for row in rows {
        let current = existing.remove(&row.case_number);
        let linked = current
            .as_ref()
            .and_then(|s| links.get(&s.id))
            .cloned()
            .unwrap_or_default();
        let mut used = HashSet::new();
        let mut ids = Vec::with_capacity(row.firearms.len());
        let mut firearms_changed = false;
        for f in &row.firearms {
            let (id, changed) = firearms
                .resolve(db, f, row.owner_agency, &linked, &used, provenance)
                .await?;
            firearms_changed |= changed;
            if used.insert(id) {
                ids.push(id);
            }
        }
        let count = i32::try_from(ids.len()).unwrap_or(i32::MAX);
        let mut active = seizure::ActiveModel {
            id: NotSet,
            case_number: Set(row.case_number.clone()),
            seizing_agency: Set(row.seizing_agency),
            operation: Set(row.operation.clone()),
            seized_on: Set(row.seized_on),
            fiscal_year: Set(row.fiscal_year),
            us_state: Set(row.us_state.clone()),
            port_of_entry: Set(row.port_of_entry.clone()),
            direction: Set(row.direction),
            concealment_method: Set(row.concealment_method.clone()),
            ammunition_rounds: Set(row.ammunition_rounds),
            firearm_count: Set(count),
            owner_agency: Set(row.owner_agency),
            source_system: Set(provenance.source_system.clone()),
            ingested_at: Set(provenance.ingested_at),
            version: Set(1),
        };
        match current {
            None => {
                let id = seizure::Entity::insert(active)
                    .exec(db)
                    .await?
                    .last_insert_id;
                link_firearms(db, id, &ids).await?;
                counts.inserted += 1;
            }
            Some(stored) => {
                let wanted: BTreeSet<i64> = ids.iter().copied().collect();
                let had: BTreeSet<i64> = linked.iter().copied().collect();
                let same = wanted == had
                    && stored.firearm_count == count
                    && stored.seizing_agency == row.seizing_agency
                    && stored.operation == row.operation
                    && stored.seized_on == row.seized_on
                    && stored.fiscal_year == row.fiscal_year
                    && stored.us_state == row.us_state
                    && stored.port_of_entry == row.port_of_entry
                    && stored.direction == row.direction
                    && stored.concealment_method == row.concealment_method
                    && stored.ammunition_rounds == row.ammunition_rounds
                    && stored.owner_agency == row.owner_agency;
                if same && !firearms_changed {
                    provenance.base_version(stored.version)?;
                    counts.unchanged += 1;
                    continue;
                }
                active.id = Set(stored.id);
                let base = provenance.base_version(stored.version)?;
                active.version = Set(base + 1);
                update_checked(
                    db,
                    active,
                    (seizure::Column::Id, stored.id),
                    (seizure::Column::Version, base),
                )
                .await?;
                let removed: Vec<i64> = had.difference(&wanted).copied().collect();
                if !removed.is_empty() {
                    seizure_firearm::Entity::delete_many()
                        .filter(seizure_firearm::Column::SeizureId.eq(stored.id))
                        .filter(seizure_firearm::Column::FirearmId.is_in(removed))
                        .exec(db)
                        .await?;
                }
                let added: Vec<i64> = wanted.difference(&had).copied().collect();
                link_firearms(db, stored.id, &added).await?;
                counts.updated += 1;
            }
        }
    }
    Ok(counts)
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

/// Inserts or updates training events by reference.
pub async fn write_trainings<C: ConnectionTrait>(
    db: &C,
    rows: &[TrainingRow],
    provenance: &Provenance,
) -> Result<WriteCounts, DbErr> {
    let references: Vec<String> = rows.iter().map(|r| r.reference.clone()).collect();
    let existing: HashMap<String, training_event::Model> =
        find_in::<training_event::Entity, _, _>(db, training_event::Column::Reference, &references)
            .await?
            .into_iter()
            .map(|t| (t.reference.clone(), t))
            .collect();
    let mut counts = WriteCounts::default();
    for row in rows {
        let mut active = training_event::ActiveModel {
            id: NotSet,
            reference: Set(row.reference.clone()),
            course: Set(row.course),
            provider: Set(row.provider),
            start_date: Set(row.start_date),
            end_date: Set(row.end_date),
            fiscal_year: Set(row.fiscal_year),
            mexican_agency: Set(row.mexican_agency.clone()),
            mexican_state: Set(row.mexican_state.clone()),
            participants: Set(row.participants),
            etrace_accounts_granted: Set(row.etrace_accounts_granted),
            funding_award_id: Set(row.funding_award_id),
            owner_agency: Set(row.owner_agency),
            source_system: Set(provenance.source_system.clone()),
            ingested_at: Set(provenance.ingested_at),
            version: Set(1),
        };
        match existing.get(&row.reference) {
            None => {
                training_event::Entity::insert(active).exec(db).await?;
                counts.inserted += 1;
            }
            Some(stored) => {
                let same = stored.course == row.course
                    && stored.provider == row.provider
                    && stored.start_date == row.start_date
                    && stored.end_date == row.end_date
                    && stored.fiscal_year == row.fiscal_year
                    && stored.mexican_agency == row.mexican_agency
                    && stored.mexican_state == row.mexican_state
                    && stored.participants == row.participants
                    && stored.etrace_accounts_granted == row.etrace_accounts_granted
                    && stored.funding_award_id == row.funding_award_id
                    && stored.owner_agency == row.owner_agency;
                if same {
                    provenance.base_version(stored.version)?;
                    counts.unchanged += 1;
                } else {
                    active.id = Set(stored.id);
                    let base = provenance.base_version(stored.version)?;
                    active.version = Set(base + 1);
                    update_checked(
                        db,
                        active,
                        (training_event::Column::Id, stored.id),
                        (training_event::Column::Version, base),
                    )
                    .await?;
                    counts.updated += 1;
                }
            }
        }
    }
    Ok(counts)
}

/// Inserts or updates funding awards by award number.
pub async fn write_funding<C: ConnectionTrait>(
    db: &C,
    rows: &[FundingRow],
    provenance: &Provenance,
) -> Result<WriteCounts, DbErr> {
    let numbers: Vec<String> = rows.iter().map(|r| r.award_number.clone()).collect();
    let existing: HashMap<String, funding_award::Model> =
        find_in::<funding_award::Entity, _, _>(db, funding_award::Column::AwardNumber, &numbers)
            .await?
            .into_iter()
            .map(|a| (a.award_number.clone(), a))
            .collect();
    let mut counts = WriteCounts::default();
    for row in rows {
        let mut active = funding_award::ActiveModel {
            id: NotSet,
            award_number: Set(row.award_number.clone()),
            fiscal_year: Set(row.fiscal_year),
            program: Set(row.program.clone()),
            category: Set(row.category),
            implementing_agency: Set(row.implementing_agency),
            recipient: Set(row.recipient.clone()),
            obligated_cents: Set(row.obligated_cents),
            disbursed_cents: Set(row.disbursed_cents),
            description: Set(row.description.clone()),
            owner_agency: Set(row.owner_agency),
            source_system: Set(provenance.source_system.clone()),
            ingested_at: Set(provenance.ingested_at),
            version: Set(1),
        };
        match existing.get(&row.award_number) {
            None => {
                funding_award::Entity::insert(active).exec(db).await?;
                counts.inserted += 1;
            }
            Some(stored) => {
                let same = stored.fiscal_year == row.fiscal_year
                    && stored.program == row.program
                    && stored.category == row.category
                    && stored.implementing_agency == row.implementing_agency
                    && stored.recipient == row.recipient
                    && stored.obligated_cents == row.obligated_cents
                    && stored.disbursed_cents == row.disbursed_cents
                    && stored.description == row.description
                    && stored.owner_agency == row.owner_agency;
                if same {
                    provenance.base_version(stored.version)?;
                    counts.unchanged += 1;
                } else {
                    active.id = Set(stored.id);
                    let base = provenance.base_version(stored.version)?;
                    active.version = Set(base + 1);
                    update_checked(
                        db,
                        active,
                        (funding_award::Column::Id, stored.id),
                        (funding_award::Column::Version, base),
                    )
                    .await?;
                    counts.updated += 1;
                }
            }
        }
    }
    Ok(counts)
}
