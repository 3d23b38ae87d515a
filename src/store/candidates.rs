//! Link candidates: pairs of a seized firearm record (CBP's or ICE's) and a traced firearm record
//! (ATF's) whose normalized serials are one edit apart, of the same manufacturer and firearm type,
//! whose seized record the caller does not see identified already.
//!
//! Generation is blocked and exact, and the same whoever asks. Each seized record with a serial is
//! indexed under its block (normalized manufacturer and type) and its deletion keys: the serial
//! itself and each of its one-character deletions. Two serials within one substitution, insertion
//! or deletion of each other share a key (symmetric deletion); an adjacent transposition
//! `…ab…`/`…ba…` shares the key with both characters' positions deleted in turn (deleting `a` from
//! one and `b` from the other leaves the same string), so it shares a one-deletion key too. Keys
//! are 64-bit hashes of (block, key string), kept in a map and in a bit filter that turns most
//! keys away before the map is looked at. The traced records are then read once, in ranges of
//! ids and only their serial, type and manufacturer, their keys probed, and each pair found is
//! checked by [`one_edit`], which names the edit; the traced records of the serials found are read
//! whole afterwards. Nothing is missed (every pair within one edit shares a key) and nothing
//! further than one edit is kept.
//!
//! What a caller sees of them is decided per request ([`visible`]): both records must be rows it
//! reads, and the seized record must not be identified for it, that is linked (by an identical
//! serial or a confirmed near serial, in any number of steps, over links it may follow) to a traced
//! record it reads. Identification thus never depends on a record hidden from the caller: a trace
//! it may not read cannot take a candidate away from it.
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
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Query};
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
    /// The record's block (normalized manufacturer and type) in the index.
    block: u32,
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

/// The multiplier of the serials' polynomial hashes.
const BASE: u64 = 0x100_0000_01b3;

/// Mixes a polynomial hash with the block and the key's length into a well-spread 64-bit key
/// (splitmix64's finaliser).
fn finish(hash: u64, block: u32, len: usize) -> u64 {
    let mut z = hash ^ (u64::from(block) << 40) ^ (len as u64);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Calls `f` with the key of each deletion key of `serial` in `block` (see [`deletion_keys`]):
/// the serial itself, then the serial without each character in turn. The keys are polynomial
/// hashes computed from the serial's prefix hashes in one pass, with no string built; equal keys
/// hash alike, and a collision only costs a check by [`one_edit`]. Deleting either of two equal
/// neighbours gives the same key, which is visited once.
fn for_each_key(block: u32, serial: &[u8], prefix: &mut Vec<u64>, mut f: impl FnMut(u64)) {
    let n = serial.len();
    prefix.clear();
    prefix.push(0);
    for &b in serial {
        let last = prefix.last().copied().unwrap_or(0);
        prefix.push(last.wrapping_mul(BASE).wrapping_add(u64::from(b)));
    }
    let whole = prefix[n];
    f(finish(whole, block, n));
    // Without the character at `skip`: the prefix before it, shifted over the rest, plus the rest.
    let mut power = 1u64; // BASE^(n - skip - 1)
    for skip in (0..n).rev() {
        if skip + 1 < n {
            power = power.wrapping_mul(BASE);
        }
        if skip > 0 && serial[skip] == serial[skip - 1] {
            continue;
        }
        let rest = whole.wrapping_sub(prefix[skip + 1].wrapping_mul(power));
        let key = prefix[skip].wrapping_mul(power).wrapping_add(rest);
        f(finish(key, block, n - 1));
    }
}

/// A hasher for keys that are well-spread hashes already ([`finish`]): it passes them through.
#[derive(Default)]
struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Keys = HashMap<u64, u32, std::hash::BuildHasherDefault<PassThrough>>;

/// A bit filter over the index's keys (a blocked Bloom filter): each key sets two bits of one
/// 64-bit word. A traced record's key whose bits are not both set is in no seized record's keys,
/// and is rejected without a probe of the key map, whose table is far larger than the processor's
/// caches; about 1 key in 100 not in the map passes (16 bits per key).
struct Filter {
    words: Vec<u64>,
    mask: u64,
}

impl Filter {
    fn with_keys(keys: &Keys) -> Filter {
        let words = (keys.len() / 4).max(1).next_power_of_two();
        let mut filter = Filter {
            words: vec![0; words],
            mask: words as u64 - 1,
        };
        for &key in keys.keys() {
            let (word, bits) = filter.place(key);
            filter.words[word] |= bits;
        }
        filter
    }

    /// The word and the two bits of a key, from bits of the (well-spread) key the map's own
    /// placement does not start from.
    fn place(&self, key: u64) -> (usize, u64) {
        let word = ((key >> 40) & self.mask) as usize;
        let bits = (1u64 << (key & 63)) | (1u64 << ((key >> 6) & 63));
        (word, bits)
    }

    fn may_contain(&self, key: u64) -> bool {
        let (word, bits) = self.place(key);
        self.words.get(word).is_some_and(|w| w & bits == bits)
    }
}

/// The seized records' deletion keys, blocked by normalized manufacturer and type: each key leads
/// to a chain of the records having it.
struct Index {
    records: Vec<Record>,
    blocks: HashMap<(String, FirearmType), u32>,
    /// A key's first entry in `chain`.
    keys: Keys,
    /// Rejects most keys that are not in `keys` before they are looked up there.
    filter: Filter,
    /// (record, next entry of the same key, or `u32::MAX`).
    chain: Vec<(u32, u32)>,
}

/// What the probes found: per traced serial, the seized records (their places in the index) one
/// edit from it in the traced record's block. The traced records having the serial are read
/// afterwards ([`traced_of`]), as only a few thousand serials are found.
type Hits = HashMap<String, Vec<u32>>;

impl Index {
    fn build(seized: Vec<SeizedRow>) -> Index {
        let mut keys = Keys::with_capacity_and_hasher(seized.len() * 12, Default::default());
        let mut index = Index {
            records: Vec::with_capacity(seized.len()),
            blocks: HashMap::new(),
            keys: Keys::default(),
            filter: Filter::with_keys(&Keys::default()),
            chain: Vec::with_capacity(seized.len() * 12),
        };
        let mut prefix = Vec::with_capacity(64);
        for (id, owner, serial, manufacturer, kind, caliber, model) in seized {
            let count = u32::try_from(index.blocks.len()).unwrap_or(u32::MAX);
            let block = *index
                .blocks
                .entry((firearm::normalize_manufacturer(&manufacturer), kind))
                .or_insert(count);
            let at = u32::try_from(index.records.len()).unwrap_or(u32::MAX);
            let chain = &mut index.chain;
            for_each_key(block, serial.as_bytes(), &mut prefix, |key| {
                let entry = u32::try_from(chain.len()).unwrap_or(u32::MAX);
                let head = keys.entry(key).or_insert(u32::MAX);
                // A record's keys are distinct but for hash collisions: one entry per key.
                if *head != u32::MAX && chain[*head as usize].0 == at {
                    return;
                }
                chain.push((at, *head));
                *head = entry;
            });
            index.records.push(Record {
                id,
                owner,
                block,
                serial,
                caliber,
                model,
            });
        }
        index.filter = Filter::with_keys(&keys);
        index.keys = keys;
        index
    }

    /// The block of a traced record's type and manufacturer as recorded (`"TYPE manufacturer"`),
    /// if any seized record is of it.
    fn block_of(&self, spelled: &str) -> Option<u32> {
        let (kind, manufacturer) = spelled.split_once(' ')?;
        let kind = FirearmType::ALL.iter().find(|t| t.as_str() == kind)?;
        self.blocks
            .get(&(firearm::normalize_manufacturer(manufacturer), *kind))
            .copied()
    }

    /// Probes the index with each traced record of `rows` (lines of `serial TAB type SPACE
    /// manufacturer`, as [`traced_rows`] reads them) and adds to `hits` each seized record one
    /// edit from it, checked by [`one_edit`].
    fn probe(&self, rows: &str, hits: &mut Hits) -> std::result::Result<(), DbErr> {
        let mut spellings: HashMap<&str, Option<u32>> = HashMap::new();
        let mut prefix = Vec::with_capacity(64);
        let mut seen: Vec<u32> = Vec::new();
        for line in rows.split('\n').filter(|l| !l.is_empty()) {
            let Some((serial, spelled)) = line.split_once('\t') else {
                return Err(DbErr::Custom(format!(
                    "unreadable traced record row: {line:?}"
                )));
            };
            let block = *spellings
                .entry(spelled)
                .or_insert_with(|| self.block_of(spelled));
            let Some(block) = block else { continue };
            seen.clear();
            for_each_key(block, serial.as_bytes(), &mut prefix, |key| {
                if !self.filter.may_contain(key) {
                    return;
                }
                let mut at = self.keys.get(&key).copied().unwrap_or(u32::MAX);
                while let Some(&(record, next)) = self.chain.get(at as usize) {
                    seen.push(record);
                    at = next;
                }
            });
            if seen.is_empty() {
                continue;
            }
            seen.sort_unstable();
            seen.dedup();
            for &at in &seen {
                if one_edit(&self.records[at as usize].serial, serial).is_some() {
                    let found = hits.entry(serial.to_owned()).or_default();
                    if !found.contains(&at) {
                        found.push(at);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Firearm ids per statement of the scan of the traced records.
const SCAN_IDS: i64 = 1 << 16;

/// The traced records (ATF's, with a serial) whose ids are in `from..to`, as one text of lines
/// `serial TAB type SPACE manufacturer`: one row per statement rather than one per record, so the
/// scan costs the database's reading and not a row's hand-over per record, and no more than the
/// probe needs (the ids and other attributes are read for the serials found only). A normalized
/// serial holds neither a tab nor a line break; a line break in a manufacturer's name is read as a
/// space, which its normalized form does anyway.
async fn traced_rows(
    db: &DatabaseConnection,
    from: i64,
    to: i64,
) -> std::result::Result<String, DbErr> {
    let backend = db.get_database_backend();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match backend {
        sea_orm::DbBackend::Postgres => (
            "SELECT string_agg(serial_normalized || chr(9) || firearm_type || ' ' \
             || replace(manufacturer, chr(10), ' '), chr(10)) AS t \
             FROM firearm WHERE id >= $1 AND id < $2 AND owner_agency = 'ATF' \
             AND serial_normalized IS NOT NULL",
            vec![from.into(), to.into()],
        ),
        _ => (
            "SELECT group_concat(serial_normalized || char(9) || firearm_type || ' ' \
             || replace(manufacturer, char(10), ' '), char(10)) AS t \
             FROM firearm WHERE id >= ? AND id < ? AND owner_agency = 'ATF' \
             AND serial_normalized IS NOT NULL",
            vec![from.into(), to.into()],
        ),
    };
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<String>>("", "t")?.unwrap_or_default(),
        None => String::new(),
    })
}

/// A traced record having a serial found: id, normalized serial, manufacturer, type, caliber and
/// model.
type TracedRow = (
    i64,
    String,
    String,
    FirearmType,
    Option<String>,
    Option<String>,
);

/// The traced records (ATF's) whose normalized serial is one of `serials`, by the serials' index.
async fn traced_of(
    db: &DatabaseConnection,
    serials: &[&str],
) -> std::result::Result<Vec<TracedRow>, DbErr> {
    use firearm::Column as F;
    let mut out = Vec::new();
    for chunk in serials.chunks(super::door::ID_CHUNK) {
        out.extend(
            firearm::Entity::find()
                .select_only()
                .columns([
                    F::Id,
                    F::SerialNormalized,
                    F::Manufacturer,
                    F::FirearmType,
                    F::Caliber,
                    F::Model,
                ])
                .filter(F::OwnerAgency.eq(Agency::Atf))
                .filter(F::SerialNormalized.is_in(chunk.iter().copied()))
                .into_tuple::<TracedRow>()
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// The lowest and highest firearm ids, if there is a firearm.
async fn id_bounds(db: &DatabaseConnection) -> std::result::Result<Option<(i64, i64)>, DbErr> {
    use sea_orm::sea_query::ExprTrait as _;
    let bounds: Option<(Option<i64>, Option<i64>)> = firearm::Entity::find()
        .select_only()
        .column_as(Expr::col(firearm::Column::Id).min(), "lo")
        .column_as(Expr::col(firearm::Column::Id).max(), "hi")
        .into_tuple()
        .one(db)
        .await?;
    Ok(match bounds {
        Some((Some(lo), Some(hi))) => Some((lo, hi)),
        _ => None,
    })
}

fn joined(e: tokio::task::JoinError) -> DbErr {
    DbErr::Custom(format!("the link candidates' computation failed: {e}"))
}

/// Every candidate of the data, whoever asks, and the links around their seized records: what a
/// caller sees of them is decided per request ([`visible`]), since whether a seized record is
/// identified depends on the links the caller may follow and the records it reads.
pub(crate) struct Generated {
    /// Seized record then traced record, in id order.
    pub candidates: Vec<Candidate>,
    graph: Graph,
}

/// Every candidate: each pair of a seized record (not ATF's, held by a seizure) and a traced record
/// (ATF's) of one block whose serials are one edit apart, whatever links either has.
///
/// The seized records are read and indexed; the traced records' serials, types and manufacturers
/// are then read in ranges of ids, two statements at a time, each range's rows probed on the
/// blocking pool while the next ones are read, so the asynchronous workers never run the
/// probing. Only the traced records having a serial found are then read whole.
pub(crate) async fn generate(db: &DatabaseConnection) -> std::result::Result<Generated, DbErr> {
    use firearm::Column as F;
    use futures_util::StreamExt;
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
    let empty = || Generated {
        candidates: Vec::new(),
        graph: Graph::default(),
    };
    if seized.is_empty() {
        return Ok(empty());
    }
    let Some((lo, hi)) = id_bounds(db).await? else {
        return Ok(empty());
    };
    let index = Arc::new(
        tokio::task::spawn_blocking(move || Index::build(seized))
            .await
            .map_err(joined)?,
    );
    let ranges = std::iter::successors(Some(lo), |from| {
        from.checked_add(SCAN_IDS).filter(|next| *next <= hi)
    });
    let mut texts = futures_util::stream::iter(ranges)
        .map(|from| traced_rows(db, from, from.saturating_add(SCAN_IDS)))
        .buffered(2);
    // One probing at a time, on the blocking pool, while the next ranges are read; the hits
    // travel with it.
    let mut hits = Hits::new();
    let mut probing: Option<tokio::task::JoinHandle<std::result::Result<Hits, DbErr>>> = None;
    while let Some(text) = texts.next().await {
        let text = text?;
        if let Some(done) = probing.take() {
            hits = done.await.map_err(joined)??;
        }
        let index = index.clone();
        let mut found = std::mem::take(&mut hits);
        probing = Some(tokio::task::spawn_blocking(move || {
            index.probe(&text, &mut found).map(|()| found)
        }));
    }
    if let Some(done) = probing {
        hits = done.await.map_err(joined)??;
    }
    // The traced records of the serials found, with their ids and other attributes: each pairs
    // with the seized records found for its serial that are of its block.
    let serials: Vec<&str> = hits.keys().map(String::as_str).collect();
    let traced = traced_of(db, &serials).await?;
    let mut candidates: Vec<Candidate> = Vec::new();
    for (traced_id, serial, manufacturer, kind, caliber, model) in traced {
        let Some(found) = hits.get(&serial) else {
            continue;
        };
        let Some(&block) = index
            .blocks
            .get(&(firearm::normalize_manufacturer(&manufacturer), kind))
        else {
            continue;
        };
        for &at in found {
            let record = &index.records[at as usize];
            if record.block != block {
                continue;
            }
            let Some(edit) = one_edit(&record.serial, &serial) else {
                continue;
            };
            let caliber_agrees = record.caliber.is_some() && record.caliber == caliber;
            let model_agrees = record.model.is_some() && record.model == model;
            candidates.push(Candidate {
                seized_firearm_id: record.id,
                seized_owner: record.owner,
                traced_firearm_id: traced_id,
                edit,
                caliber_agrees,
                model_agrees,
                score: score(edit, caliber_agrees, model_agrees),
            });
        }
    }
    candidates.sort_by_key(|c| (c.seized_firearm_id, c.traced_firearm_id));
    let seized_ids: Vec<i64> = candidates
        .iter()
        .map(|c| c.seized_firearm_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let graph = Graph::around(db, &seized_ids).await?;
    Ok(Generated { candidates, graph })
}

/// Which records a caller may step onto over a link: none without the `firearmLink` rule; without
/// a stated purpose only its own agency's (as `links::same_gun` walks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Follow {
    Nothing,
    Own(Agency),
    Everything,
}

impl Follow {
    fn of(access: &Access) -> Follow {
        if access.rule(EntityKind::FirearmLink).rows != Rows::All {
            return Follow::Nothing;
        }
        if !access.needs_purpose(EntityKind::FirearmLink) {
            return Follow::Everything;
        }
        access.agency().map_or(Follow::Nothing, Follow::Own)
    }

    fn onto(self, owner: Agency) -> bool {
        match self {
            Follow::Nothing => false,
            Follow::Own(agency) => owner == agency,
            Follow::Everything => true,
        }
    }
}

/// The links around some records: every record linked to one of them, in any number of steps,
/// with its owner and its links.
#[derive(Default)]
struct Graph {
    links: HashMap<i64, Vec<i64>>,
    owners: HashMap<i64, Agency>,
}

impl Graph {
    /// The links around `ids`, read in a few statements per chunk of ids: the records reached by
    /// the recursive walk over links, their owners and their links.
    async fn around<C: ConnectionTrait>(db: &C, ids: &[i64]) -> std::result::Result<Graph, DbErr> {
        let mut graph = Graph::default();
        let mut reached: BTreeSet<i64> = BTreeSet::new();
        for chunk in ids.chunks(super::door::ID_CHUNK) {
            for (start, id) in super::links::walk(db, chunk, None).await? {
                reached.insert(start);
                reached.insert(id);
            }
        }
        let reached: Vec<i64> = reached.into_iter().collect();
        for chunk in reached.chunks(super::door::ID_CHUNK) {
            // Every link has its lower id as `firearm_id`, and both its ends are reached.
            for (a, b) in firearm_link::Entity::find()
                .select_only()
                .column(firearm_link::Column::FirearmId)
                .column(firearm_link::Column::LinkedFirearmId)
                .filter(firearm_link::Column::FirearmId.is_in(chunk.iter().copied()))
                .into_tuple::<(i64, i64)>()
                .all(db)
                .await?
            {
                graph.links.entry(a).or_default().push(b);
                graph.links.entry(b).or_default().push(a);
            }
            for (id, owner) in firearm::Entity::find()
                .select_only()
                .column(firearm::Column::Id)
                .column(firearm::Column::OwnerAgency)
                .filter(firearm::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple::<(i64, Agency)>()
                .all(db)
                .await?
            {
                graph.owners.insert(id, owner);
            }
        }
        Ok(graph)
    }

    /// The traced records (ATF's) reached from the seized record `seized` over links as `follow`
    /// allows, in any number of steps, not counting a link between `seized` and `traced` (the
    /// pair's own confirmed link): the records whose reading identifies `seized` for the caller,
    /// so that it offers no candidate.
    fn traced_reached(&self, seized: i64, traced: i64, follow: Follow) -> Vec<i64> {
        let mut found = Vec::new();
        if follow == Follow::Nothing || !self.links.contains_key(&seized) {
            return found;
        }
        let mut seen: HashSet<i64> = HashSet::from([seized]);
        let mut queue = vec![seized];
        while let Some(at) = queue.pop() {
            for &next in self.links.get(&at).into_iter().flatten() {
                if (at == seized && next == traced) || seen.contains(&next) {
                    continue;
                }
                let Some(&owner) = self.owners.get(&next) else {
                    continue;
                };
                if !follow.onto(owner) {
                    continue;
                }
                seen.insert(next);
                if owner == Agency::Atf {
                    found.push(next);
                }
                queue.push(next);
            }
        }
        found
    }
}

/// The candidates of one `records` generation.
struct Cached {
    generation: i64,
    candidates: Arc<Generated>,
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
    ) -> std::result::Result<Arc<Generated>, DbErr> {
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

    /// The key of a whole string, as [`for_each_key`] computes it first.
    fn key_of(block: u32, key: &str) -> u64 {
        let mut first = None;
        for_each_key(block, key.as_bytes(), &mut Vec::new(), |k| {
            first.get_or_insert(k);
        });
        first.expect("a key")
    }

    #[test]
    fn the_hashed_deletion_keys_are_the_keys_of_the_deleted_strings() {
        for serial in [
            "GLK10001234",
            "SWM1OOO4321",
            "AAB",
            "7",
            "ABBA",
            "X10000001",
        ] {
            let mut hashed = HashSet::new();
            for_each_key(5, serial.as_bytes(), &mut Vec::new(), |k| {
                hashed.insert(k);
            });
            let strings: HashSet<u64> =
                deletion_keys(serial).iter().map(|k| key_of(5, k)).collect();
            assert_eq!(hashed, strings, "{serial}");
        }
    }

    #[test]
    fn hashed_keys_meet_where_the_string_keys_do() {
        let hashed = |serial: &str| {
            let mut keys = HashSet::new();
            for_each_key(3, serial.as_bytes(), &mut Vec::new(), |k| {
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
            for_each_key(4, b"GLK10001234", &mut Vec::new(), |k| {
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

    fn seized_row(id: i64, serial: &str, manufacturer: &str, kind: FirearmType) -> SeizedRow {
        (
            id,
            Agency::Cbp,
            serial.to_owned(),
            manufacturer.to_owned(),
            kind,
            None,
            None,
        )
    }

    #[test]
    fn the_bit_filter_passes_every_key_of_the_index_and_rejects_most_others() {
        let seized: Vec<SeizedRow> = (0..5_000)
            .map(|n| {
                seized_row(
                    n,
                    &format!("GLK{}", 90_000_000 + n),
                    "Glock",
                    FirearmType::Pistol,
                )
            })
            .collect();
        let index = Index::build(seized);
        assert!(index.keys.keys().all(|&k| index.filter.may_contain(k)));
        let mut passed = 0;
        let mut prefix = Vec::new();
        for n in 0..5_000 {
            for_each_key(
                0,
                format!("SWM{}", 10_000_000 + n).as_bytes(),
                &mut prefix,
                |key| {
                    if index.filter.may_contain(key) {
                        passed += 1;
                    }
                },
            );
        }
        // About 1 in 100 keys not in the index passes (16 bits per key); 60,000 were tried.
        assert!(passed < 3_000, "{passed} of 60,000 foreign keys passed");
    }

    #[test]
    fn the_probe_finds_each_seized_record_one_edit_away_in_the_traced_records_block_only() {
        let index = Index::build(vec![
            seized_row(1, "GLK1O001234", "Glock", FirearmType::Pistol),
            seized_row(2, "GLK10002134", "GLOCK ", FirearmType::Pistol),
            seized_row(3, "GLK10001234", "Glock", FirearmType::Rifle),
            seized_row(4, "GLK99999999", "Glock", FirearmType::Pistol),
        ]);
        let mut hits = Hits::new();
        index
            .probe(
                "GLK10001234\tPISTOL  glock\nGLK10001234\tPISTOL Colt\nGLK1000123\tRIFLE Glock\n",
                &mut hits,
            )
            .expect("readable rows");
        let found = |serial: &str| -> Vec<i64> {
            let mut ids: Vec<i64> = hits
                .get(serial)
                .into_iter()
                .flatten()
                .map(|&at| index.records[at as usize].id)
                .collect();
            ids.sort_unstable();
            ids
        };
        assert_eq!(found("GLK10001234"), vec![1, 2]);
        assert_eq!(found("GLK1000123"), vec![3]);
        assert_eq!(hits.len(), 2);
        assert!(index.probe("no tab here", &mut hits).is_err());
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
) -> Result<Arc<Generated>> {
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
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let visible = super::firearms::visible_probing(access)?;
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

/// The candidates the caller may see: its role's `linkCandidate` rule reads them, it reads both
/// records' rows (another agency's only with a stated purpose or a grant), and the seized record
/// is not identified for it. A seized record is identified when, over the links the caller may
/// follow (its `firearmLink` rule; another agency's record needs a purpose), in any number of
/// steps and not counting the pair's own confirmed link, it reaches a traced record the caller
/// reads: the gun is traced already, and the caller can see so. Whether a candidate is shown thus
/// depends only on records and links the caller may read, never on a trace hidden from it. In
/// list order.
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
    let follow = Follow::of(access);
    let wanted: Vec<(&Candidate, Vec<i64>)> = all
        .candidates
        .iter()
        .filter(|c| criteria.matches(c))
        .map(|c| {
            let reached =
                all.graph
                    .traced_reached(c.seized_firearm_id, c.traced_firearm_id, follow);
            (c, reached)
        })
        .collect();
    // The identifying records first: most candidates of a caller that reads every trace end
    // there, and only the rest need their own two records checked.
    let identifying: BTreeSet<i64> = wanted
        .iter()
        .flat_map(|(_, reached)| reached.iter().copied())
        .collect();
    let identifying = readable(db, access, &identifying).await?;
    let wanted: Vec<&Candidate> = wanted
        .into_iter()
        .filter(|(_, reached)| !reached.iter().any(|x| identifying.contains(x)))
        .map(|(c, _)| c)
        .collect();
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
/// traced one (ATF's), of the same manufacturer and type, serials one edit apart, and the seized
/// record not identified for the caller (exactly as [`visible`] decides). A pair that is no longer
/// a candidate (its records or links since changed) stays open to one decision only: the
/// `withdrawing` side (a REJECT by ATF or the seizing agency) reversing its own CONFIRM, the latest
/// decision of that side on the pair, so that a confirmation, and the link it made, can always be
/// withdrawn; nobody decides anew on such a pair otherwise. `None` when it is neither.
async fn pair<C: ConnectionTrait>(
    db: &C,
    access: &Access,
    seized_firearm_id: i64,
    traced_firearm_id: i64,
    withdrawing: Option<Agency>,
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
    let links: Vec<firearm_link::Model> = firearm_link::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(L::FirearmId.eq(seized_firearm_id))
                .add(L::LinkedFirearmId.eq(seized_firearm_id)),
        )
        .all(db)
        .await?;
    // The side's own CONFIRM in force on the pair, which it may withdraw whatever became of the
    // records since.
    let withdrawal = match withdrawing {
        Some(side) => {
            let decisions = link_decision::Entity::find()
                .filter(link_decision::Column::SeizedFirearmId.eq(seized_firearm_id))
                .filter(link_decision::Column::TracedFirearmId.eq(traced_firearm_id))
                .filter(link_decision::Column::Side.eq(side))
                .all(db)
                .await?;
            decisions
                .iter()
                .max_by_key(|d| d.id)
                .is_some_and(|d| d.decision == LinkDecisionKind::Confirm)
        }
        None => false,
    };
    let edit = match (&seized.serial_normalized, &traced.serial_normalized) {
        (Some(s), Some(t)) => one_edit(s, t),
        _ => None,
    };
    let same_block = firearm::normalize_manufacturer(&seized.manufacturer)
        == firearm::normalize_manufacturer(&traced.manufacturer)
        && seized.firearm_type == traced.firearm_type;
    let candidate = edit.filter(|_| same_block);
    if !withdrawal {
        if candidate.is_none() {
            return Ok(None);
        }
        // Identified for the caller (see [`visible`]): no candidate.
        let reached = if links.is_empty() {
            Vec::new()
        } else {
            Graph::around(db, &[seized_firearm_id])
                .await?
                .traced_reached(seized_firearm_id, traced_firearm_id, Follow::of(access))
        };
        if !reached.is_empty()
            && !readable(db, access, &reached.into_iter().collect())
                .await?
                .is_empty()
        {
            return Ok(None);
        }
    }
    let caliber_agrees = seized.caliber.is_some() && seized.caliber == traced.caliber;
    let model_agrees = seized.model.is_some() && seized.model == traced.model;
    // A withdrawn confirmation whose serials no longer are one edit apart keeps the edit it had to
    // be named by something: it is shown as an arbitrary substitution.
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

/// Fixed keys: a pair's lock key must be the same in every process.
const KEY_HASHER: std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher> =
    std::hash::BuildHasherDefault::new();

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
    events: Option<&super::events::Events>,
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
    let agency = access.agency().ok_or_else(|| {
        Error::Forbidden("only ATF and the seizing agency decide on a candidate".to_owned())
    })?;
    let withdrawing = (decision == LinkDecisionKind::Reject).then_some(agency);
    let candidate = pair(
        db,
        &access.for_write(),
        seized_firearm_id,
        traced_firearm_id,
        withdrawing,
    )
    .await?
    .ok_or(Error::NotFound)?;
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
    let found = (changed && confirmed).then(|| super::events::Event::Linked {
        low: seized_firearm_id.min(traced_firearm_id),
        high: seized_firearm_id.max(traced_firearm_id),
    });
    if let Some(found) = found {
        super::events::raise(&txn, &[found]).await?;
    }
    if changed {
        super::generation::bump(&txn, super::generation::Scope::Records).await?;
    }
    crate::audit::commit_with(txn, event).await?;
    if let (Some(found), Some(events)) = (found, events) {
        events.committed(&[found]);
    }
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
    /// The candidates a caller reading every record and following every link sees.
    pub candidates: usize,
    /// Every pair one edit apart, before the seized records identified by links are left out.
    pub pairs: usize,
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
            "{} link candidates ({} pairs one edit apart, the others' seized records identified \
             by links) generated in {:.2} s; {} seeded near-serial pairs, {} of them found: \
             recall {recall:.4}, precision {precision:.4}",
            self.candidates, self.pairs, self.seconds, self.seeded, self.seeded_found
        )
    }
}

/// Generates every candidate once, timed (the candidates a caller reading every record and
/// following every link sees, as the server's first request after a change would), and scores
/// them against `demo_near_serial`.
pub async fn measure(db: &DatabaseConnection) -> anyhow::Result<Measured> {
    use anyhow::Context;
    let started = std::time::Instant::now();
    let generated = generate(db)
        .await
        .context("cannot generate the link candidates")?;
    let found: Vec<&Candidate> = generated
        .candidates
        .iter()
        .filter(|c| {
            generated
                .graph
                .traced_reached(c.seized_firearm_id, c.traced_firearm_id, Follow::Everything)
                .is_empty()
        })
        .collect();
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
        pairs: generated.candidates.len(),
        seconds,
        seeded: seeded.len(),
        seeded_found,
    })
}
