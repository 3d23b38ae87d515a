//! Link candidates: pairs of a seized firearm record (CBP's or ICE's) and a traced firearm record
//! (ATF's) whose normalized serials are one edit apart, of the same manufacturer and firearm type,
//! that no identical-serial link joins already.
//!
//! Generation is blocked and exact. Each seized record not linked to a traced one by an identical
//! serial is indexed under its block (normalized manufacturer and type) and its deletion keys: the
//! serial itself and each of its one-character deletions. Two serials within one substitution,
//! insertion or deletion of each other share a key (symmetric deletion); an adjacent transposition
//! `…ab…`/`…ba…` shares the key with both characters' positions deleted in turn (deleting `a` from
//! one and `b` from the other leaves the same string), so it shares a one-deletion key too. Every
//! traced record of a block some seized record is in is then read once, its keys probed, and each
//! pair found is checked by [`one_edit`], which names the edit. Nothing is missed (every pair within
//! one edit shares a key) and nothing further than one edit is kept.
//!
//! Candidates are computed on demand and cached per `records` data generation (see
//! [`CandidateCache`]): a change to any record or link moves the generation and the next request
//! computes them again. Decisions on candidates are records of their own (`link_decision`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use entity::{
    Agency, FirearmType, LinkDecisionKind, firearm, firearm_link, link_decision, seizure_firearm,
};
use futures_util::TryStreamExt;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};
use tokio::sync::Mutex;

use super::door::Described;
use crate::audit::NewEvent;
use crate::error::{Error, Result};
use crate::policy::{Access, EntityKind, Rows};

const KIND: EntityKind = EntityKind::LinkCandidate;

/// Pairs of characters a clerk or a scanner confuses; a substitution between them scores higher
/// than an arbitrary one.
pub(crate) const CONFUSABLE: &[(char, char)] = &[
    ('O', '0'),
    ('Q', '0'),
    ('D', '0'),
    ('I', '1'),
    ('L', '1'),
    ('Z', '2'),
    ('A', '4'),
    ('S', '5'),
    ('G', '6'),
    ('T', '7'),
    ('B', '8'),
];

/// Whether `a` and `b` are a confusable pair (either way round).
pub(crate) fn confusable(a: char, b: char) -> bool {
    CONFUSABLE
        .iter()
        .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
}

/// How the seized record's serial differs from the traced record's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Edit {
    /// One character replaced by one it is easily taken for (O for 0, I for 1, S for 5 …).
    ConfusableSubstitution,
    /// One character replaced by another.
    Substitution,
    /// Two adjacent characters swapped.
    Transposition,
    /// One character of the traced serial missing.
    Deletion,
    /// One character more than the traced serial.
    Insertion,
}

impl Edit {
    /// The name the API and the demo's record use.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Edit::ConfusableSubstitution => "CONFUSABLE_SUBSTITUTION",
            Edit::Substitution => "SUBSTITUTION",
            Edit::Transposition => "TRANSPOSITION",
            Edit::Deletion => "DELETION",
            Edit::Insertion => "INSERTION",
        }
    }

    /// How likely the edit is a keying error of the same serial, before the other attributes.
    fn weight(self) -> f64 {
        match self {
            Edit::ConfusableSubstitution => 0.95,
            Edit::Transposition => 0.9,
            Edit::Deletion | Edit::Insertion => 0.85,
            Edit::Substitution => 0.75,
        }
    }
}

/// The one edit that turns `traced` into `seized`, if they are exactly one edit apart (identical
/// serials are not).
pub(crate) fn one_edit(seized: &str, traced: &str) -> Option<Edit> {
    let s: Vec<char> = seized.chars().collect();
    let t: Vec<char> = traced.chars().collect();
    match s.len().cmp(&t.len()) {
        std::cmp::Ordering::Equal => {
            let diffs: Vec<usize> = (0..s.len()).filter(|&i| s[i] != t[i]).collect();
            match diffs.as_slice() {
                [i] => Some(if confusable(s[*i], t[*i]) {
                    Edit::ConfusableSubstitution
                } else {
                    Edit::Substitution
                }),
                [i, j] if *j == i + 1 && s[*i] == t[*j] && s[*j] == t[*i] => {
                    Some(Edit::Transposition)
                }
                _ => None,
            }
        }
        std::cmp::Ordering::Less if s.len() + 1 == t.len() => {
            one_deletion(&t, &s).then_some(Edit::Deletion)
        }
        std::cmp::Ordering::Greater if t.len() + 1 == s.len() => {
            one_deletion(&s, &t).then_some(Edit::Insertion)
        }
        _ => None,
    }
}

/// Whether deleting one character of `long` gives `short`.
fn one_deletion(long: &[char], short: &[char]) -> bool {
    let prefix = long.iter().zip(short).take_while(|(a, b)| a == b).count();
    long[prefix + 1..] == short[prefix..]
}

/// The deletion keys of a serial: itself and each of its one-character deletions (as strings; the
/// generation hashes them in place, see [`for_each_key`]).
#[cfg(test)]
fn deletion_keys(serial: &str) -> Vec<String> {
    let chars: Vec<char> = serial.chars().collect();
    let mut keys = Vec::with_capacity(chars.len() + 1);
    keys.push(serial.to_owned());
    for skip in 0..chars.len() {
        let key: String = chars
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, c)| *c)
            .collect();
        keys.push(key);
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// One candidate: the two records, the edit and which other attributes agree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub seized_firearm_id: i64,
    pub seized_owner: Agency,
    pub traced_firearm_id: i64,
    pub edit: Edit,
    pub caliber_agrees: bool,
    pub model_agrees: bool,
    /// In `0..=1`: the edit's weight, lowered when the caliber or the model differ.
    pub score: f64,
}

fn score(edit: Edit, caliber_agrees: bool, model_agrees: bool) -> f64 {
    let attributes =
        0.8 + if caliber_agrees { 0.1 } else { 0.0 } + if model_agrees { 0.1 } else { 0.0 };
    (edit.weight() * attributes * 1000.0).round() / 1000.0
}

/// A seized record as candidate generation compares it.
struct Record {
    id: i64,
    owner: Agency,
    serial: String,
    caliber: Option<String>,
    model: Option<String>,
}

type SeizedRow = (
    i64,
    Agency,
    String,
    String,
    FirearmType,
    Option<String>,
    Option<String>,
);

/// The hash of a deletion key in its block: the block, then the serial without the character at
/// `skip` (none when `skip` is past its end). Equal keys hash alike; a collision only costs a
/// check by [`one_edit`].
fn key_hash(block: u32, serial: &[u8], skip: usize, buffer: &mut Vec<u8>) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    buffer.clear();
    buffer.extend_from_slice(&block.to_le_bytes());
    for (i, b) in serial.iter().enumerate() {
        if i != skip {
            buffer.push(*b);
        }
    }
    let mut hasher = KEY_HASHER.build_hasher();
    hasher.write(buffer);
    hasher.finish()
}

/// Fixed keys: the index lives only as long as one generation.
const KEY_HASHER: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

/// Calls `f` with the hash of each deletion key of `serial` in `block` (see [`deletion_keys`]);
/// a key repeated by deleting either of two equal neighbours is visited once per position, which
/// callers deduplicate.
fn for_each_key(block: u32, serial: &str, buffer: &mut Vec<u8>, mut f: impl FnMut(u64)) {
    let bytes = serial.as_bytes();
    f(key_hash(block, bytes, usize::MAX, buffer));
    for skip in 0..bytes.len() {
        if skip > 0 && bytes[skip] == bytes[skip - 1] {
            continue;
        }
        f(key_hash(block, bytes, skip, buffer));
    }
}

/// Every candidate, seized record then traced record in id order.
pub(crate) async fn generate(
    db: &DatabaseConnection,
) -> std::result::Result<Vec<Candidate>, DbErr> {
    use firearm::Column as F;
    // Seized records already linked to a record of ATF's by an identical serial are identified.
    let exact: Vec<(i64, i64)> = firearm_link::Entity::find()
        .filter(firearm_link::Column::Basis.eq(entity::LinkBasis::ExactSerialManufacturer))
        .select_only()
        .column(firearm_link::Column::FirearmId)
        .column(firearm_link::Column::LinkedFirearmId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?;
    let held_by_seizure = Query::select()
        .column(seizure_firearm::Column::FirearmId)
        .from(seizure_firearm::Entity)
        .to_owned();
    let seized: Vec<SeizedRow> = firearm::Entity::find()
        .select_only()
        .columns([
            F::Id,
            F::OwnerAgency,
            F::SerialNormalized,
            F::Manufacturer,
            F::FirearmType,
            F::Caliber,
            F::Model,
        ])
        .filter(F::SerialNormalized.is_not_null())
        .filter(F::OwnerAgency.ne(Agency::Atf))
        .filter(F::Id.in_subquery(held_by_seizure))
        .into_tuple()
        .all(db)
        .await?;
    let seized_ids: HashSet<i64> = seized.iter().map(|r| r.0).collect();
    // A seized record exactly linked to a traced one is not a candidate for another.
    let identified: HashSet<i64> = exact
        .iter()
        .flat_map(|&(a, b)| [(a, b), (b, a)])
        .filter(|(s, t)| seized_ids.contains(s) && !seized_ids.contains(t))
        .map(|(s, _)| s)
        .collect();
    let mut blocks: HashMap<(String, FirearmType), u32> = HashMap::new();
    let mut records: Vec<Record> = Vec::new();
    let mut index: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut buffer = Vec::with_capacity(64);
    for (id, owner, serial, manufacturer, kind, caliber, model) in seized {
        if identified.contains(&id) {
            continue;
        }
        let block_count = u32::try_from(blocks.len()).unwrap_or(u32::MAX);
        let block = *blocks
            .entry((firearm::normalize_manufacturer(&manufacturer), kind))
            .or_insert(block_count);
        let at = u32::try_from(records.len()).unwrap_or(u32::MAX);
        for_each_key(block, &serial, &mut buffer, |key| {
            let hits = index.entry(key).or_default();
            if hits.last() != Some(&at) {
                hits.push(at);
            }
        });
        records.push(Record {
            id,
            owner,
            serial,
            caliber,
            model,
        });
    }
    if records.is_empty() {
        return Ok(Vec::new());
    }
    // The blocks of each manufacturer as recorded (a handful of spellings), so a traced row finds
    // its block without normalizing or allocating.
    let mut by_spelling: HashMap<String, Vec<(FirearmType, u32)>> = HashMap::new();
    let mut hits: Vec<(u32, i64, String)> = Vec::new();
    let mut seen: Vec<u32> = Vec::new();
    let mut traced = firearm::Entity::find()
        .select_only()
        .columns([F::Id, F::SerialNormalized, F::Manufacturer, F::FirearmType])
        .filter(F::SerialNormalized.is_not_null())
        .filter(F::OwnerAgency.eq(Agency::Atf))
        .into_tuple::<(i64, String, String, FirearmType)>()
        .stream(db)
        .await?;
    while let Some((id, serial, manufacturer, kind)) = traced.try_next().await? {
        if !by_spelling.contains_key(manufacturer.as_str()) {
            let normalized = firearm::normalize_manufacturer(&manufacturer);
            let of_spelling = blocks
                .iter()
                .filter(|((m, _), _)| *m == normalized)
                .map(|((_, t), b)| (*t, *b))
                .collect();
            by_spelling.insert(manufacturer.clone(), of_spelling);
        }
        let Some(block) = by_spelling
            .get(manufacturer.as_str())
            .and_then(|of| of.iter().find(|(t, _)| *t == kind))
            .map(|(_, b)| *b)
        else {
            continue;
        };
        seen.clear();
        for_each_key(block, &serial, &mut buffer, |key| {
            if let Some(found) = index.get(&key) {
                seen.extend(found);
            }
        });
        if seen.is_empty() {
            continue;
        }
        seen.sort_unstable();
        seen.dedup();
        for &at in &seen {
            if one_edit(&records[at as usize].serial, &serial).is_some() {
                hits.push((at, id, serial.clone()));
            }
        }
    }
    drop(traced);
    // The traced records' other attributes, for the hits only.
    let traced_ids: Vec<i64> = hits
        .iter()
        .map(|h| h.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut attributes: HashMap<i64, (Option<String>, Option<String>)> = HashMap::new();
    for chunk in traced_ids.chunks(super::door::ID_CHUNK) {
        for (id, caliber, model) in firearm::Entity::find()
            .select_only()
            .columns([F::Id, F::Caliber, F::Model])
            .filter(F::Id.is_in(chunk.iter().copied()))
            .into_tuple::<(i64, Option<String>, Option<String>)>()
            .all(db)
            .await?
        {
            attributes.insert(id, (caliber, model));
        }
    }
    let mut found: Vec<Candidate> = Vec::with_capacity(hits.len());
    for (at, traced_id, serial) in hits {
        let record = &records[at as usize];
        let Some(edit) = one_edit(&record.serial, &serial) else {
            continue;
        };
        let (caliber, model) = attributes.remove(&traced_id).unwrap_or_default();
        let caliber_agrees = record.caliber.is_some() && record.caliber == caliber;
        let model_agrees = record.model.is_some() && record.model == model;
        attributes.insert(traced_id, (caliber, model));
        found.push(Candidate {
            seized_firearm_id: record.id,
            seized_owner: record.owner,
            traced_firearm_id: traced_id,
            edit,
            caliber_agrees,
            model_agrees,
            score: score(edit, caliber_agrees, model_agrees),
        });
    }
    found.sort_by_key(|c| (c.seized_firearm_id, c.traced_firearm_id));
    Ok(found)
}

/// The candidates of one `records` generation.
struct Cached {
    generation: i64,
    candidates: Arc<Vec<Candidate>>,
}

/// The process's candidates, computed for the `records` generation last read and computed again
/// when it moves. Concurrent misses wait for one computation. The computation runs in a task of
/// its own, outside any request's budget, and fills the cache even when the request that started
/// it stops first (its time is up, or its client went away): the next request finds it done.
#[derive(Default)]
pub struct CandidateCache {
    slot: Arc<Mutex<Option<Cached>>>,
}

impl CandidateCache {
    /// The candidates of the current data.
    pub(crate) async fn current(
        &self,
        db: &DatabaseConnection,
    ) -> std::result::Result<Arc<Vec<Candidate>>, DbErr> {
        let mut slot = self.slot.clone().lock_owned().await;
        let generation = super::generation::current(db).await?.records;
        if let Some(cached) = slot.as_ref()
            && cached.generation == generation
        {
            return Ok(cached.candidates.clone());
        }
        let db = db.clone();
        let computing = tokio::spawn(async move {
            let candidates = Arc::new(generate(&db).await?);
            *slot = Some(Cached {
                generation,
                candidates: candidates.clone(),
            });
            Ok(candidates)
        });
        computing
            .await
            .map_err(|e| DbErr::Custom(format!("the link candidates' computation failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_are_named() {
        assert_eq!(
            one_edit("GLK1O001234", "GLK10001234"),
            Some(Edit::ConfusableSubstitution)
        );
        assert_eq!(
            one_edit("GLK10001934", "GLK10001234"),
            Some(Edit::Substitution)
        );
        assert_eq!(
            one_edit("GLK10002134", "GLK10001234"),
            Some(Edit::Transposition)
        );
        assert_eq!(one_edit("GLK1001234", "GLK10001234"), Some(Edit::Deletion));
        assert_eq!(
            one_edit("GLK100051234", "GLK10001234"),
            Some(Edit::Insertion)
        );
        assert_eq!(one_edit("GLK10001234", "GLK10001234"), None);
        assert_eq!(one_edit("GLK10003214", "GLK10001234"), None);
        assert_eq!(one_edit("GLK1000123", "GLK10001299"), None);
    }

    #[test]
    fn hashed_keys_meet_where_the_string_keys_do() {
        let hashed = |serial: &str| {
            let mut keys = HashSet::new();
            for_each_key(3, serial, &mut Vec::new(), |k| {
                keys.insert(k);
            });
            keys
        };
        let traced = "GLK10001234";
        for seized in [
            "GLK1O001234",
            "GLK1000123",
            "GLK01001234",
            "GLK100012345",
            "GLK99999999",
        ] {
            let strings: HashSet<String> = deletion_keys(traced).into_iter().collect();
            let share = deletion_keys(seized).iter().any(|k| strings.contains(k));
            assert_eq!(
                !hashed(seized).is_disjoint(&hashed(traced)),
                share,
                "{seized}"
            );
        }
        assert!(hashed("GLK10001234").is_disjoint(&{
            let mut other = HashSet::new();
            for_each_key(4, "GLK10001234", &mut Vec::new(), |k| {
                other.insert(k);
            });
            other
        }));
    }

    #[test]
    fn every_pair_one_edit_apart_shares_a_deletion_key() {
        let traced = "SWM10004321";
        let near = [
            "SWM1OOO4321",
            "SWM1O004321",
            "SWM10043021",
            "SWM0104321",
            "SWM1000432",
            "XSWM10004321",
            "SWM100043210",
            "WSM10004321",
        ];
        let keys: HashSet<String> = deletion_keys(traced).into_iter().collect();
        let within = near
            .iter()
            .filter(|s| one_edit(s, traced).is_some())
            .count();
        assert_eq!(within, 5, "five of them are one edit away");
        for seized in near {
            let shares = deletion_keys(seized).iter().any(|k| keys.contains(k));
            // Sharing a key is necessary, not sufficient (a deletion and an insertion elsewhere
            // share one too): `one_edit` decides.
            assert!(
                shares || one_edit(seized, traced).is_none(),
                "{seized} against {traced}"
            );
        }
    }

    #[test]
    fn confusable_substitutions_score_higher_than_arbitrary_ones() {
        assert!(
            score(Edit::ConfusableSubstitution, true, true) > score(Edit::Substitution, true, true)
        );
        assert!(score(Edit::Transposition, true, true) > score(Edit::Transposition, false, true));
    }
}

/// What a caller asks of the candidates.
#[derive(Debug, Clone, Default)]
pub(crate) struct CandidateCriteria {
    pub seized_firearm_id: Option<i64>,
    pub traced_firearm_id: Option<i64>,
    pub min_score: Option<f64>,
    pub edits: Option<Vec<Edit>>,
}

impl CandidateCriteria {
    fn matches(&self, c: &Candidate) -> bool {
        self.seized_firearm_id
            .is_none_or(|id| id == c.seized_firearm_id)
            && self
                .traced_firearm_id
                .is_none_or(|id| id == c.traced_firearm_id)
            && self.min_score.is_none_or(|s| c.score >= s)
            && self.edits.as_ref().is_none_or(|e| e.contains(&c.edit))
    }
}

/// A candidate's place in the list: its seized record's id, then its traced record's (ids are far
/// below 2³¹).
pub(crate) fn candidate_key(c: &Candidate) -> i64 {
    (c.seized_firearm_id << 31) | c.traced_firearm_id
}

/// The candidates of the current data (from `cache` when given).
async fn all_candidates(
    db: &DatabaseConnection,
    cache: Option<&CandidateCache>,
) -> Result<Arc<Vec<Candidate>>> {
    Ok(match cache {
        Some(cache) => cache.current(db).await?,
        None => Arc::new(generate(db).await?),
    })
}

/// Of `ids`, the firearm records the caller reads (its traces' and seizures' records, as far as
/// its role, purpose and grants go).
async fn readable<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    ids: &BTreeSet<i64>,
) -> Result<HashSet<i64>> {
    let visible = super::firearms::visible(access)?;
    let ids: Vec<i64> = ids.iter().copied().collect();
    let mut out = HashSet::new();
    for chunk in ids.chunks(super::door::ID_CHUNK) {
        out.extend(
            firearm::Entity::find()
                .select_only()
                .column(firearm::Column::Id)
                .filter(firearm::Column::Id.is_in(chunk.iter().copied()))
                .filter(visible.clone())
                .into_tuple::<i64>()
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// The candidates the caller may see: its role's `linkCandidate` rule reads them, and it reads
/// both records' rows (another agency's only with a stated purpose or a grant). In list order.
pub(crate) async fn visible(
    db: &DatabaseConnection,
    access: &Access,
    cache: Option<&CandidateCache>,
    criteria: &CandidateCriteria,
) -> Result<Vec<Candidate>> {
    if access.rule(KIND).rows == Rows::None {
        return Err(super::scope::rows_forbidden(access, KIND));
    }
    if let Some(min) = criteria.min_score
        && !(0.0..=1.0).contains(&min)
    {
        return Err(Error::invalid("minScore", "must be between 0 and 1"));
    }
    let all = all_candidates(db, cache).await?;
    let wanted: Vec<&Candidate> = all.iter().filter(|c| criteria.matches(c)).collect();
    let ids: BTreeSet<i64> = wanted
        .iter()
        .flat_map(|c| [c.seized_firearm_id, c.traced_firearm_id])
        .collect();
    let readable = readable(db, access, &ids).await?;
    let could_read = |kind: EntityKind| {
        access.rule(kind).rows != Rows::None || access.grants_for(kind).next().is_some()
    };
    if access.purpose.is_none() && could_read(EntityKind::Trace) && could_read(EntityKind::Seizure)
    {
        // A candidate pairs two agencies' records: without a stated purpose the other agency's
        // side is left out, and the response says so.
        access.withhold();
    }
    let seen: Vec<Candidate> = wanted
        .into_iter()
        .filter(|c| {
            readable.contains(&c.seized_firearm_id) && readable.contains(&c.traced_firearm_id)
        })
        .cloned()
        .collect();
    access.touched(
        KIND,
        seen.iter()
            .flat_map(|c| [c.seized_owner, Agency::Atf])
            .collect::<BTreeSet<_>>(),
        seen.len(),
    );
    Ok(seen)
}

/// Where the decisions on a candidate stand, as the caller may know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Confirmed,
    Rejected,
}

/// One decision as the caller sees it: its own agency's in full; another agency's without who
/// took it and why (`subject`, `purpose` are `None`) unless the caller reads every agency's audit
/// events.
#[derive(Debug, Clone)]
pub(crate) struct SeenDecision {
    pub side: Agency,
    pub decision: LinkDecisionKind,
    pub subject: Option<String>,
    pub role: entity::Role,
    pub purpose: Option<String>,
    pub decided_at: chrono::DateTime<Utc>,
}

/// A candidate with its two records (masked for the caller), its status and the decisions the
/// caller sees, oldest first.
pub(crate) struct CandidateDetail {
    pub candidate: Candidate,
    pub seized: firearm::Model,
    pub traced: firearm::Model,
    pub status: Status,
    pub decisions: Vec<SeenDecision>,
}

/// The status and decisions of a candidate as the caller may know them. The other side's
/// decisions, and a CONFIRMED status (which says the two records are linked), only to a role that
/// follows every firearm link (`firearmLink` rows `all`); to any other, the status is its own
/// side's (REJECTED when its latest decision rejects, else OPEN) and the decisions its own. Another
/// agency's decision's `subject` and `purpose` only to a role that reads every agency's audit
/// events.
fn as_seen(
    access: &Access,
    seized_owner: Agency,
    decisions: &[link_decision::Model],
) -> (Status, Vec<SeenDecision>) {
    let links_all = access.rule(EntityKind::FirearmLink).rows == Rows::All;
    let audit_all = access.rule(EntityKind::AuditEvent).rows == Rows::All;
    let own = access.agency();
    let status = if links_all {
        match latest(decisions, seized_owner) {
            (Some(a), Some(b))
                if a.decision == LinkDecisionKind::Confirm
                    && b.decision == LinkDecisionKind::Confirm =>
            {
                Status::Confirmed
            }
            (a, b)
                if [a, b]
                    .iter()
                    .flatten()
                    .any(|d| d.decision == LinkDecisionKind::Reject) =>
            {
                Status::Rejected
            }
            _ => Status::Open,
        }
    } else {
        let mine = decisions
            .iter()
            .filter(|d| Some(d.side) == own)
            .max_by_key(|d| d.id);
        match mine {
            Some(d) if d.decision == LinkDecisionKind::Reject => Status::Rejected,
            _ => Status::Open,
        }
    };
    let seen = decisions
        .iter()
        .filter(|d| links_all || Some(d.side) == own)
        .map(|d| {
            let full = audit_all || Some(d.side) == own;
            SeenDecision {
                side: d.side,
                decision: d.decision,
                subject: full.then(|| d.subject.clone()),
                role: d.role,
                purpose: if full { d.purpose.clone() } else { None },
                decided_at: d.decided_at,
            }
        })
        .collect();
    (status, seen)
}

fn latest(
    decisions: &[link_decision::Model],
    seized_owner: Agency,
) -> (Option<&link_decision::Model>, Option<&link_decision::Model>) {
    let last = |side: Agency| {
        decisions
            .iter()
            .filter(|d| d.side == side)
            .max_by_key(|d| d.id)
    };
    (last(Agency::Atf), last(seized_owner))
}

/// The records and decisions of candidates the caller sees (from [`visible`]), aligned with
/// `candidates`: `None` where a record has gone since the candidates were computed.
pub(crate) async fn details<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    candidates: Vec<Candidate>,
) -> Result<Vec<Option<CandidateDetail>>> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = candidates
        .iter()
        .flat_map(|c| [c.seized_firearm_id, c.traced_firearm_id])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut records: HashMap<i64, firearm::Model> = HashMap::new();
    let mut decisions: HashMap<(i64, i64), Vec<link_decision::Model>> = HashMap::new();
    let seized: Vec<i64> = candidates.iter().map(|c| c.seized_firearm_id).collect();
    for chunk in ids.chunks(super::door::ID_CHUNK) {
        for f in firearm::Entity::find()
            .filter(firearm::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            records.insert(f.id, firearm::Entity::mask(access, f));
        }
    }
    for chunk in seized.chunks(super::door::ID_CHUNK) {
        for d in link_decision::Entity::find()
            .filter(link_decision::Column::SeizedFirearmId.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            decisions
                .entry((d.seized_firearm_id, d.traced_firearm_id))
                .or_default()
                .push(d);
        }
    }
    let mut out = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let (Some(seized), Some(traced)) = (
            records.get(&candidate.seized_firearm_id),
            records.get(&candidate.traced_firearm_id),
        ) else {
            out.push(None);
            continue;
        };
        let mut ds = decisions
            .remove(&(candidate.seized_firearm_id, candidate.traced_firearm_id))
            .unwrap_or_default();
        ds.sort_by_key(|d| d.id);
        let (status, decisions) = as_seen(access, candidate.seized_owner, &ds);
        out.push(Some(LinkCandidates::mask(
            access,
            CandidateDetail {
                seized: seized.clone(),
                traced: traced.clone(),
                status,
                decisions,
                candidate,
            },
        )));
    }
    Ok(out)
}

/// The one pair `decide` names, checked alone with a few indexed reads rather than a generation:
/// both records readable by the caller, a seized record (not ATF's, held by a seizure) and a
/// traced one (ATF's), of the same manufacturer and type, serials one edit apart, and no
/// identical-serial link joining the seized record to a trace. A pair already joined by a
/// confirmed near-serial link stays decidable even if it is no longer a candidate (its records
/// since changed), so a confirmed link can always be undone. `None` when it is neither.
async fn pair<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    seized_firearm_id: i64,
    traced_firearm_id: i64,
) -> Result<Option<Candidate>> {
    use firearm::Column as F;
    use firearm_link::Column as L;
    if seized_firearm_id == traced_firearm_id {
        return Ok(None);
    }
    let ids: BTreeSet<i64> = [seized_firearm_id, traced_firearm_id].into();
    if readable(db, access, &ids).await?.len() != 2 {
        return Ok(None);
    }
    let records: HashMap<i64, firearm::Model> = firearm::Entity::find()
        .filter(F::Id.is_in([seized_firearm_id, traced_firearm_id]))
        .all(db)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let (Some(seized), Some(traced)) = (
        records.get(&seized_firearm_id),
        records.get(&traced_firearm_id),
    ) else {
        return Ok(None);
    };
    if seized.owner_agency == Agency::Atf || traced.owner_agency != Agency::Atf {
        return Ok(None);
    }
    let held_by_seizure = seizure_firearm::Entity::find()
        .filter(seizure_firearm::Column::FirearmId.eq(seized_firearm_id))
        .one(db)
        .await?
        .is_some();
    if !held_by_seizure {
        return Ok(None);
    }
    let (low, high) = (
        seized_firearm_id.min(traced_firearm_id),
        seized_firearm_id.max(traced_firearm_id),
    );
    let links: Vec<firearm_link::Model> = firearm_link::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(L::FirearmId.eq(seized_firearm_id))
                .add(L::LinkedFirearmId.eq(seized_firearm_id)),
        )
        .all(db)
        .await?;
    let confirmed = links.iter().any(|l| {
        l.basis == entity::LinkBasis::ConfirmedNearSerial
            && l.firearm_id == low
            && l.linked_firearm_id == high
    });
    let edit = match (&seized.serial_normalized, &traced.serial_normalized) {
        (Some(s), Some(t)) => one_edit(s, t),
        _ => None,
    };
    let same_block = firearm::normalize_manufacturer(&seized.manufacturer)
        == firearm::normalize_manufacturer(&traced.manufacturer)
        && seized.firearm_type == traced.firearm_type;
    let candidate = edit.filter(|_| same_block);
    if !confirmed {
        // Linked to a record of ATF's by an identical serial: identified, no candidate.
        let others: Vec<i64> = links
            .iter()
            .filter(|l| l.basis == entity::LinkBasis::ExactSerialManufacturer)
            .map(|l| {
                if l.firearm_id == seized_firearm_id {
                    l.linked_firearm_id
                } else {
                    l.firearm_id
                }
            })
            .collect();
        let identified = !others.is_empty()
            && firearm::Entity::find()
                .filter(F::Id.is_in(others))
                .filter(F::OwnerAgency.eq(Agency::Atf))
                .one(db)
                .await?
                .is_some();
        if candidate.is_none() || identified {
            return Ok(None);
        }
    }
    let caliber_agrees = seized.caliber.is_some() && seized.caliber == traced.caliber;
    let model_agrees = seized.model.is_some() && seized.model == traced.model;
    // A confirmed pair whose serials no longer are one edit apart keeps the edit it had to be
    // named by something: it is shown as an arbitrary substitution.
    let edit = candidate.unwrap_or(Edit::Substitution);
    Ok(Some(Candidate {
        seized_firearm_id,
        seized_owner: seized.owner_agency,
        traced_firearm_id,
        edit,
        caliber_agrees,
        model_agrees,
        score: score(edit, caliber_agrees, model_agrees),
    }))
}

/// Serialises the decisions on one pair across transactions and processes. On PostgreSQL a
/// transaction-scoped advisory lock keyed by the pair (two-key form, its own key space apart from
/// the audit's one-key lock); SQLite's write transactions begin IMMEDIATE and are serialised
/// already.
async fn lock_pair<C: ConnectionTrait>(
    txn: &C,
    seized_firearm_id: i64,
    traced_firearm_id: i64,
) -> std::result::Result<(), DbErr> {
    use std::hash::{BuildHasher, Hasher};
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let mut hasher = KEY_HASHER.build_hasher();
    hasher.write_i64(seized_firearm_id);
    hasher.write_i64(traced_firearm_id);
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a lock key: any 32 bits of the hash serve"
    )]
    let key = hasher.finish() as i32;
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1, $2)",
        [PAIR_LOCK_CLASS.into(), key.into()],
    ))
    .await?;
    Ok(())
}

/// The first key of the pair locks ("LINK" in ASCII).
const PAIR_LOCK_CLASS: i32 = 0x4C49_4E4B;

/// Records the caller's agency's decision on a candidate it sees, in one audited transaction:
/// ATF decides for the trace side, the seized record's owner for the seizure side. When both
/// sides' latest decisions confirm, the two records are linked (`CONFIRMED_NEAR_SERIAL`), and a
/// later rejection by either side removes that link. A candidate the caller does not see answers
/// NOT_FOUND, exactly as a pair that is no candidate. Decisions on one pair are serialised (see
/// [`lock_pair`]): the latest decisions are read after the caller's own is written, so two sides
/// confirming at once link the records, and the link always follows the latest decisions.
pub(crate) async fn decide(
    db: &DatabaseConnection,
    access: &Access,
    seized_firearm_id: i64,
    traced_firearm_id: i64,
    decision: LinkDecisionKind,
    mut event: NewEvent,
) -> Result<CandidateDetail> {
    if !access.can_write(KIND) {
        return Err(Error::Forbidden(format!(
            "the role {} does not decide on link candidates",
            access.role()
        )));
    }
    if access.rule(KIND).rows == Rows::None {
        return Err(super::scope::rows_forbidden(access, KIND));
    }
    let candidate = pair(
        db,
        &access.for_write(),
        seized_firearm_id,
        traced_firearm_id,
    )
    .await?
    .ok_or(Error::NotFound)?;
    let agency = access.agency().ok_or_else(|| {
        Error::Forbidden("only ATF and the seizing agency decide on a candidate".to_owned())
    })?;
    if agency != Agency::Atf && agency != candidate.seized_owner {
        // Another seizing agency's candidate is not the caller's to decide, and is answered as
        // a pair that is no candidate: the refusal does not say it exists.
        return Err(Error::NotFound);
    }
    let txn = super::begin_write(db).await?;
    lock_pair(&txn, seized_firearm_id, traced_firearm_id).await?;
    link_decision::ActiveModel {
        id: NotSet,
        seized_firearm_id: Set(seized_firearm_id),
        traced_firearm_id: Set(traced_firearm_id),
        side: Set(agency),
        decision: Set(decision),
        subject: Set(access.caller.subject.clone()),
        role: Set(access.role()),
        purpose: Set(access.purpose.clone()),
        decided_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    let decisions = link_decision::Entity::find()
        .filter(link_decision::Column::SeizedFirearmId.eq(seized_firearm_id))
        .filter(link_decision::Column::TracedFirearmId.eq(traced_firearm_id))
        .all(&txn)
        .await?;
    let confirmed = matches!(
        latest(&decisions, candidate.seized_owner),
        (Some(a), Some(b)) if a.decision == LinkDecisionKind::Confirm
            && b.decision == LinkDecisionKind::Confirm
    );
    let changed =
        super::links::set_confirmed(&txn, seized_firearm_id, traced_firearm_id, confirmed).await?;
    event.entities = vec![
        KIND.as_str().to_owned(),
        EntityKind::FirearmLink.as_str().to_owned(),
    ];
    event.data_owners = vec![Agency::Atf, candidate.seized_owner];
    event.data_owners.sort();
    event.rows_returned = 1;
    // Candidates derive from the records and their identical-serial links only, and decisions are
    // read afresh: only a link made or removed changes what other reads (and caches) see.
    if changed {
        super::generation::bump(&txn, super::generation::Scope::Records).await?;
    }
    crate::audit::commit_with(txn, event).await?;
    let mut found = details(db, access, vec![candidate]).await?;
    found.pop().flatten().ok_or(Error::NotFound)
}

/// The descriptor of `LinkCandidate`: its fields. None is hideable: a role that sees a candidate
/// sees its records as far as it reads them (each masked as a firearm), its reason and decisions.
pub(crate) struct LinkCandidates;

impl Described for LinkCandidates {
    type Row = CandidateDetail;
    const KIND: EntityKind = KIND;
    const FIELDS: &'static [super::door::Field<CandidateDetail>] = &[
        super::door::Field::edge("seizedFirearm", EntityKind::Firearm),
        super::door::Field::edge("tracedFirearm", EntityKind::Firearm),
        super::door::Field::shown("score"),
        super::door::Field::shown("reason"),
        super::door::Field::shown("status"),
        super::door::Field::shown("decisions"),
    ];
}

/// What `firearms-hub link-candidates` reports: the candidates of the data, how long generating
/// them took, and how they compare with the demo's seeded near-serial pairs.
pub struct Measured {
    pub candidates: usize,
    pub seconds: f64,
    pub seeded: usize,
    pub seeded_found: usize,
}

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[expect(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        let (recall, precision) = (
            self.seeded_found as f64 / self.seeded.max(1) as f64,
            self.seeded_found as f64 / self.candidates.max(1) as f64,
        );
        write!(
            f,
            "{} link candidates generated in {:.2} s; {} seeded near-serial pairs, {} of them \
             found: recall {recall:.4}, precision {precision:.4}",
            self.candidates, self.seconds, self.seeded, self.seeded_found
        )
    }
}

/// Generates every candidate once, timed, and scores them against `demo_near_serial`.
pub async fn measure(db: &DatabaseConnection) -> anyhow::Result<Measured> {
    use anyhow::Context;
    let started = std::time::Instant::now();
    let found = generate(db)
        .await
        .context("cannot generate the link candidates")?;
    let seconds = started.elapsed().as_secs_f64();
    let seeded: HashSet<(i64, i64)> = entity::demo_near_serial::Entity::find()
        .all(db)
        .await
        .context("cannot read the seeded pairs")?
        .into_iter()
        .map(|s| (s.seized_firearm_id, s.traced_firearm_id))
        .collect();
    let seeded_found = found
        .iter()
        .filter(|c| seeded.contains(&(c.seized_firearm_id, c.traced_firearm_id)))
        .count();
    Ok(Measured {
        candidates: found.len(),
        seconds,
        seeded: seeded.len(),
        seeded_found,
    })
}
