//! CBP and ICE seizures of firearms headed for Mexico.
//!
//! Each group below has an exact number of seized firearms (scaled); seizures of 1–60 firearms
//! are drawn until the group's total is used up. Every seizing agency keeps its own firearm
//! records. Some seized firearms are traced guns recorded exactly as ATF recorded them; others
//! were recorded with the serial written differently (it normalizes to the traced firearm's
//! serial). Either way the seizing agency's record is linked to ATF's (`firearm_link`), so the
//! cross-agency match goes through links.
//!
//! A further share of the seized firearms that match no trace by serial are guns ATF later traced
//! under a near-identical serial ([`cal::NEAR_SERIAL_PER_MILLE`]): the seizing agency's record keeps the
//! traced firearm's manufacturer, model, type and caliber, and its serial is the traced one with
//! one edit (a confusable substitution such as O for 0 or S for 5, two adjacent characters
//! swapped, one character dropped or one added). Each such serial is chosen so that the candidate
//! search pairs it with the traced firearm alone: no other traced serial of that manufacturer and
//! type is within one edit of it, and no other traced serial of that manufacturer, of any type,
//! equals it (which would link the seized record by an identical serial). The seeded pair is the
//! one right answer. These choices draw from a source of their own (seeded from
//! the seed), so every other figure of the dataset is what it was without them. The pairs are
//! recorded in `demo_near_serial` for the tests and the benchmark; the API never reads it.

use std::collections::{HashMap, HashSet};

use chrono::{Duration, NaiveDate};
use entity::{
    Agency, Direction, Disposition, FirearmType, SourceClass, demo_near_serial, firearm, seizure,
    seizure_firearm,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sea_orm::DatabaseConnection;

use super::calibration as cal;
use super::catalog::{CONCEALMENT, PORTS_OF_ENTRY};
use super::traces::{Kind, NO_SERIAL, SEIZED_SERIAL_BASE, Traced, new_firearm, recorded_serial};
use super::{Gen, SOURCE_SYSTEM, allocate, scaled};
use crate::domain::calendar::{fiscal_year, fiscal_year_bounds};
use crate::store::candidates::{CONFUSABLE, Edit, one_edit};
use crate::store::{self, demo::MaxIds};

/// Operation names.
pub(super) const SOUTHWEST_BORDER_TASK_FORCE: &str = "Southwest Border Task Force";
pub(super) const BEST_TASK_FORCE: &str = "Border Enforcement Security Task Force (BEST)";
pub(super) const JOINT_OPERATION: &str = "Joint ICE-CBP Southbound Operation";

/// Seized firearms written per transaction (at least; a seizure is never split).
const FLUSH_FIREARMS: usize = 4_000;

/// Per mille of seized firearms recorded exactly as a traced firearm was.
const SAME_ROW_PER_MILLE: u32 = 80;
/// Per mille of seized firearms recorded separately with a serial matching a traced firearm.
const SERIAL_MATCH_PER_MILLE: u32 = 60;
/// Per mille of the seized firearms matching no trace by serial drawn to be traced firearms
/// recorded under a near-identical serial (see [`cal::NEAR_SERIAL_PER_MILLE`]).
const NEAR_SERIAL_PER_MILLE: u32 = cal::NEAR_SERIAL_PER_MILLE;
/// Edits tried for a near-identical serial before the firearm is left matching no trace.
const NEAR_SERIAL_TRIES: usize = 12;
/// Mixed into the seed for the near-serial source.
const NEAR_SERIAL_SEED: u64 = 0x6e65_6172_5f73_6572;

#[derive(Clone, Copy)]
enum Place {
    /// Outbound inspection at a southwest border port of entry.
    Port,
    /// Task-force case: outbound or interior, in a border state.
    TaskForce,
}

struct Group {
    agency: Agency,
    operation: Option<&'static str>,
    from: NaiveDate,
    to: NaiveDate,
    /// Firearms, scaled.
    firearms: u64,
    place: Place,
}

fn date(y: i32, m: u32, d: u32) -> anyhow::Result<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| anyhow::anyhow!("invalid date {y}-{m}-{d}"))
}

/// A group of seizures between two days (inclusive), its firearms already scaled.
fn group(
    agency: Agency,
    operation: Option<&'static str>,
    (from, to): (NaiveDate, NaiveDate),
    firearms: u64,
    place: Place,
) -> Group {
    Group {
        agency,
        operation,
        from,
        to,
        firearms,
        place,
    }
}

/// A calibrated multi-year table, scaled as a whole and allocated over its years.
fn scaled_years(table: &[(i32, u64)], scale: f64) -> Vec<u64> {
    let counts: Vec<u64> = table.iter().map(|y| y.1).collect();
    allocate(scaled(counts.iter().sum(), scale), &counts)
}

/// The seizure groups with their firearm counts already scaled. The calibrated multi-year totals
/// are scaled as a whole and then allocated over their years, so they stay exact at every scale.
fn groups(scale: f64) -> anyhow::Result<Vec<Group>> {
    let mut groups = cbp_groups(scale)?;
    groups.extend(ice_groups(scale)?);
    Ok(groups)
}

/// CBP's outbound inspections at ports of entry.
fn cbp_groups(scale: f64) -> anyhow::Result<Vec<Group>> {
    let cbp_years = scaled_years(&cal::CBP_OUTBOUND_FY2014_2019, scale);
    let port = |days, firearms| group(Agency::Cbp, None, days, firearms, Place::Port);
    let mut groups = Vec::new();
    for (&(year, _), n) in cal::CBP_OUTBOUND_FY2014_2019.iter().zip(cbp_years) {
        groups.push(port(fiscal_year_bounds(year), n));
    }
    let first_ten_months = (date(2019, 10, 1)?, date(2020, 7, 31)?);
    let fy2020 = cal::CBP_OUTBOUND_FY2020_FIRST_10_MONTHS;
    groups.push(port(first_ten_months, scaled(fy2020, scale)));
    let last_two_months = (date(2020, 8, 1)?, date(2020, 9, 30)?);
    groups.push(port(last_two_months, scaled(64, scale)));
    for (year, n) in [(2021, 410), (2022, 465), (2023, 520), (2024, 480)] {
        groups.push(port(fiscal_year_bounds(year), scaled(n, scale)));
    }
    Ok(groups)
}

/// ICE's task-force cases and, from FY2020, the joint ICE–CBP operation (recorded by ICE).
fn ice_groups(scale: f64) -> anyhow::Result<Vec<Group>> {
    let ice_years = scaled_years(&cal::ICE_TASK_FORCE_FY2015_2017, scale);
    let task_force = |year, firearms| {
        let operation = Some(SOUTHWEST_BORDER_TASK_FORCE);
        let days = fiscal_year_bounds(year);
        group(Agency::Ice, operation, days, firearms, Place::TaskForce)
    };
    let mut groups = vec![task_force(2014, scaled(290, scale))];
    for (&(year, _), n) in cal::ICE_TASK_FORCE_FY2015_2017.iter().zip(ice_years) {
        groups.push(task_force(year, n));
    }
    for (year, n) in [
        (2018, 390),
        (2019, 405),
        (2020, 300),
        (2021, 320),
        (2022, 340),
        (2023, 360),
        (2024, 380),
    ] {
        groups.push(task_force(year, scaled(n, scale)));
    }
    let joint = |days, firearms| {
        let operation = Some(JOINT_OPERATION);
        group(Agency::Ice, operation, days, firearms, Place::Port)
    };
    let established = (date(2020, 3, 1)?, date(2020, 9, 30)?);
    groups.push(joint(established, scaled(180, scale)));
    for (year, n) in [(2021, 520), (2022, 610), (2023, 650), (2024, 700)] {
        groups.push(joint(fiscal_year_bounds(year), scaled(n, scale)));
    }
    Ok(groups)
}

pub(super) struct Seized {
    pub seizures: u64,
    pub firearm_links: u64,
    pub new_firearms: u64,
    pub near_serials: u64,
}

/// A seized firearm to be written, if a near-identical serial is found, as the seizing agency's
/// record of a traced firearm under that serial; else as `fallback`, matching no trace.
struct Near {
    id: i64,
    traced_id: i64,
    owner: Agency,
    fallback: firearm::Model,
}

/// A seized firearm to be written as the seizing agency's own record of a traced firearm.
struct Rerecord {
    id: i64,
    traced_id: i64,
    owner: Agency,
    /// The serial as ATF recorded it, rather than written differently.
    exact: bool,
}

#[derive(Default)]
struct Pending {
    seizures: Vec<seizure::Model>,
    links: Vec<seizure_firearm::Model>,
    firearms: Vec<firearm::Model>,
    rerecords: Vec<Rerecord>,
    near: Vec<Near>,
}

struct State<'a> {
    traced: &'a Traced,
    next_firearm: i64,
    next_seizure: i64,
    used_traced: HashSet<i64>,
    case_numbers: HashMap<(Agency, i32), u32>,
    seized_serials: u64,
    /// The near-serial source and the traced firearms it chose.
    near: ChaCha8Rng,
    near_traced: HashSet<i64>,
    summary: Seized,
}

pub(super) async fn generate(
    db: &DatabaseConnection,
    g: &mut Gen,
    traced: &Traced,
    ids: MaxIds,
) -> anyhow::Result<Seized> {
    let mut state = State {
        traced,
        next_firearm: traced.last_firearm_id.max(ids.firearm) + 1,
        next_seizure: ids.seizure + 1,
        used_traced: HashSet::new(),
        case_numbers: HashMap::new(),
        seized_serials: 0,
        near: ChaCha8Rng::seed_from_u64(g.seed ^ NEAR_SERIAL_SEED),
        near_traced: HashSet::new(),
        summary: Seized {
            seizures: 0,
            firearm_links: 0,
            new_firearms: 0,
            near_serials: 0,
        },
    };
    let mut pending = Pending::default();
    for group in groups(g.scale)? {
        let mut left = group.firearms;
        while left > 0 {
            let size = seizure_size(g).min(left);
            left -= size;
            seizure(g, &mut state, &mut pending, &group, size)?;
            if pending.links.len() >= FLUSH_FIREARMS {
                flush(db, g, &mut state, &mut pending).await?;
            }
        }
    }
    flush(db, g, &mut state, &mut pending).await?;
    Ok(state.summary)
}

fn seizure_size(g: &mut Gen) -> u64 {
    match g.rng.random_range(0..1000) {
        0..500 => 1,
        500..850 => g.rng.random_range(2..=5),
        850..980 => g.rng.random_range(6..=20),
        _ => g.rng.random_range(21..=60),
    }
}

fn seizure(
    g: &mut Gen,
    state: &mut State<'_>,
    pending: &mut Pending,
    group: &Group,
    size: u64,
) -> anyhow::Result<()> {
    let span = (group.to - group.from).num_days();
    let seized_on = group.from + Duration::days(g.rng.random_range(0..=span));
    let fy = fiscal_year(seized_on);
    let case = state.case_numbers.entry((group.agency, fy)).or_insert(0);
    *case += 1;
    let prefix = match group.agency {
        Agency::Cbp => "CBP",
        _ => "HSI",
    };
    let case_number = format!("{prefix}-FY{fy}-{case:05}");
    let (us_state, port, direction, operation) = place(g, group);
    let id = state.next_seizure;
    state.next_seizure += 1;
    let ammunition_rounds = if g.chance(300) {
        0
    } else {
        i64::try_from(size)? * g.rng.random_range(20..=200)
    };
    pending.seizures.push(seizure::Model {
        id,
        case_number,
        seizing_agency: group.agency,
        operation: operation.map(str::to_owned),
        seized_on,
        fiscal_year: fy,
        us_state: us_state.to_owned(),
        port_of_entry: port.map(str::to_owned),
        direction,
        concealment_method: Some(CONCEALMENT[g.rng.random_range(0..CONCEALMENT.len())].to_owned()),
        ammunition_rounds,
        firearm_count: i32::try_from(size)?,
        disposition: Some(disposition(id)),
        owner_agency: group.agency,
        source_system: SOURCE_SYSTEM.to_owned(),
        ingested_at: g.ingested_at,
        version: 1,
    });
    state.summary.seizures += 1;
    for _ in 0..size {
        let firearm_id = seized_firearm_id(g, state, pending, group.agency);
        pending.links.push(seizure_firearm::Model {
            seizure_id: id,
            firearm_id,
        });
        state.summary.firearm_links += 1;
    }
    Ok(())
}

/// Where a seizure of the group happened: U.S. state, port of entry, direction and operation.
fn place(
    g: &mut Gen,
    group: &Group,
) -> (
    &'static str,
    Option<&'static str>,
    Direction,
    Option<&'static str>,
) {
    match group.place {
        Place::Port => {
            let port = PORTS_OF_ENTRY[g.pick_weighted(PORTS_OF_ENTRY, |p| p.2)];
            (port.1, Some(port.0), Direction::Outbound, group.operation)
        }
        Place::TaskForce => {
            let states = [("TX", 50), ("AZ", 30), ("CA", 12), ("NM", 8)];
            let us_state = states[g.pick_weighted(&states, |s| s.1)].0;
            let direction = if g.chance(700) {
                Direction::Outbound
            } else {
                Direction::Interior
            };
            let operation = if g.chance(300) {
                Some(BEST_TASK_FORCE)
            } else {
                group.operation
            };
            (us_state, None, direction, operation)
        }
    }
}

/// One seized firearm, always a new record of the seizing agency's: a traced firearm recorded
/// exactly as ATF recorded it, one with its serial written differently, or a firearm that matches
/// no trace.
fn seized_firearm_id(
    g: &mut Gen,
    state: &mut State<'_>,
    pending: &mut Pending,
    owner: Agency,
) -> i64 {
    let draw = g.rng.random_range(0..1000);
    let traced = if draw < SAME_ROW_PER_MILLE + SERIAL_MATCH_PER_MILLE {
        pick_traced(g, state)
    } else {
        None
    };
    let id = state.next_firearm;
    state.next_firearm += 1;
    state.summary.new_firearms += 1;
    match traced {
        Some(traced_id) => pending.rerecords.push(Rerecord {
            id,
            traced_id,
            owner,
            exact: draw < SAME_ROW_PER_MILLE,
        }),
        None => {
            state.seized_serials += 1;
            let firearm = seized_firearm(g, id, owner, state.seized_serials);
            let near = state.near.random_range(0..1000) < NEAR_SERIAL_PER_MILLE;
            match near.then(|| pick_near(state)).flatten() {
                Some(traced_id) => pending.near.push(Near {
                    id,
                    traced_id,
                    owner,
                    fallback: firearm,
                }),
                None => pending.firearms.push(firearm),
            }
        }
    }
    id
}

/// A traced firearm not yet used by a seizure, if one is found quickly.
fn pick_traced(g: &mut Gen, state: &mut State<'_>) -> Option<i64> {
    let (first, last) = (state.traced.first_firearm_id, state.traced.last_firearm_id);
    if last < first {
        return None;
    }
    for _ in 0..16 {
        let id = g.rng.random_range(first..=last);
        if state.used_traced.insert(id) {
            return Some(id);
        }
    }
    None
}

/// A traced firearm with a serial, for a near-identical serial, drawn from the near-serial source:
/// not yet chosen for one, nor (so far) re-recorded by a seizure.
fn pick_near(state: &mut State<'_>) -> Option<i64> {
    let (first, last) = (state.traced.first_firearm_id, state.traced.last_firearm_id);
    if last < first {
        return None;
    }
    for _ in 0..16 {
        let id = state.near.random_range(first..=last);
        let offset = usize::try_from(id - first).ok()?;
        if state.traced.models.get(offset) == Some(&NO_SERIAL) || state.used_traced.contains(&id) {
            continue;
        }
        if state.near_traced.insert(id) {
            return Some(id);
        }
    }
    None
}

/// The traced serial with one edit of the kind drawn, if the draw allows one: the result is its
/// own normalized form and exactly one edit from the original.
fn near_serial(rng: &mut ChaCha8Rng, original: &str) -> Option<String> {
    let chars: Vec<char> = original.chars().collect();
    if chars.len() < 3 {
        return None;
    }
    let at = rng.random_range(0..chars.len());
    let mut edited = chars.clone();
    match rng.random_range(0..4) {
        0 => {
            let partners: Vec<char> = CONFUSABLE
                .iter()
                .filter_map(|&(a, b)| {
                    if a == chars[at] {
                        Some(b)
                    } else if b == chars[at] {
                        Some(a)
                    } else {
                        None
                    }
                })
                .collect();
            if partners.is_empty() {
                return None;
            }
            edited[at] = partners[rng.random_range(0..partners.len())];
        }
        1 => {
            if at + 1 >= chars.len() || chars[at] == chars[at + 1] {
                return None;
            }
            edited.swap(at, at + 1);
        }
        2 => {
            edited.remove(at);
        }
        _ => {
            let alphabet = b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ";
            edited.insert(
                at,
                char::from(alphabet[rng.random_range(0..alphabet.len())]),
            );
        }
    }
    let edited: String = edited.into_iter().collect();
    let normal = firearm::normalize_serial(&edited)?;
    (normal == edited && one_edit(&edited, original).is_some()).then_some(edited)
}

/// Every string within one edit of `serial` (itself included), over letters and digits.
fn neighbourhood(serial: &str) -> Vec<String> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let chars: Vec<char> = serial.chars().collect();
    let mut out = vec![serial.to_owned()];
    for i in 0..chars.len() {
        let mut deleted = chars.clone();
        deleted.remove(i);
        out.push(deleted.into_iter().collect());
        if i + 1 < chars.len() {
            let mut swapped = chars.clone();
            swapped.swap(i, i + 1);
            out.push(swapped.into_iter().collect());
        }
        for &c in ALPHABET {
            let mut replaced = chars.clone();
            replaced[i] = char::from(c);
            out.push(replaced.into_iter().collect());
        }
    }
    for i in 0..=chars.len() {
        for &c in ALPHABET {
            let mut inserted = chars.clone();
            inserted.insert(i, char::from(c));
            out.push(inserted.into_iter().collect());
        }
    }
    out
}

/// A near-identical serial for a traced firearm that the candidate search pairs with that firearm
/// alone, and the edit made; `None` when no try finds one. The search sees two things of another
/// traced firearm: an identical serial of the same manufacturer, whatever the type (the
/// identical-serial link, which identifies the seized record), and a serial within one edit of the
/// same manufacturer and type (another candidate). Neither may exist.
fn unambiguous_near_serial(
    rng: &mut ChaCha8Rng,
    traced: &Traced,
    original: &firearm::Model,
) -> Option<(String, Edit)> {
    let serial = original.serial_normalized.as_deref()?;
    let manufacturer = firearm::normalize_manufacturer(&original.manufacturer);
    let prefixes = Traced::prefixes(&manufacturer, original.firearm_type);
    let of_any_type: Vec<(FirearmType, Vec<String>)> = FirearmType::ALL
        .iter()
        .map(|&kind| (kind, Traced::prefixes(&manufacturer, kind)))
        .filter(|(_, prefixes)| !prefixes.is_empty())
        .collect();
    for _ in 0..NEAR_SERIAL_TRIES {
        let Some(edited) = near_serial(rng, serial) else {
            continue;
        };
        let identical = of_any_type.iter().any(|(kind, prefixes)| {
            traced
                .find(&edited, prefixes, &manufacturer, *kind)
                .is_some_and(|id| id != original.id)
        });
        let alone = !identical
            && neighbourhood(&edited).iter().all(|v| {
                traced
                    .find(v, &prefixes, &manufacturer, original.firearm_type)
                    .is_none_or(|id| id == original.id)
            });
        if alone {
            let edit = one_edit(&edited, serial)?;
            return Some((edited, edit));
        }
    }
    None
}

/// A seized firearm that matches no trace.
fn seized_firearm(g: &mut Gen, id: i64, owner: Agency, number: u64) -> firearm::Model {
    let kinds = [
        (Kind::Pistol, 400),
        (Kind::Rifle, 450),
        (Kind::Revolver, 50),
        (Kind::Shotgun, 50),
        (Kind::Other, 30),
        (Kind::Rifle50, 20),
    ];
    let kind = kinds[g.pick_weighted(&kinds, |k| k.1)].0;
    let class = if g.chance(750) || kind == Kind::Rifle50 {
        SourceClass::UsManufactured
    } else {
        SourceClass::UsImported
    };
    let column = if class == SourceClass::UsManufactured {
        0
    } else {
        1
    };
    let models = kind.models();
    let model = &models[g.pick_weighted(models, |m| m.weights[column])];
    let serial =
        (!g.chance(50)).then(|| recorded_serial(model.serial_prefix, SEIZED_SERIAL_BASE + number));
    new_firearm(g, model, kind, class, id, serial, owner)
}

/// The traced serial written the way another agency might record it: other case, spaces instead
/// of dashes, no leading zeros. Always normalizes to the same value and never equals the original.
fn rerecorded_serial(original: &str, variant: u32) -> String {
    let normalized = firearm::normalize_serial(original).unwrap_or_default();
    let candidate = match variant {
        0 => original.to_ascii_lowercase().replace('-', " "),
        1 => normalized.clone(),
        _ => {
            let split = normalized.len().min(3);
            format!("{} {}", &normalized[..split], &normalized[split..]).to_ascii_lowercase()
        }
    };
    if candidate == original {
        format!("0{normalized}")
    } else {
        candidate
    }
}

async fn flush(
    db: &DatabaseConnection,
    g: &mut Gen,
    state: &mut State<'_>,
    pending: &mut Pending,
) -> anyhow::Result<()> {
    if pending.seizures.is_empty() {
        return Ok(());
    }
    let wanted: Vec<i64> = pending
        .rerecords
        .iter()
        .map(|r| r.traced_id)
        .chain(pending.near.iter().map(|n| n.traced_id))
        .collect();
    let found: HashMap<i64, firearm::Model> = store::demo::firearms_by_ids(db, &wanted)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    for rerecord in std::mem::take(&mut pending.rerecords) {
        let Some(original) = found.get(&rerecord.traced_id) else {
            anyhow::bail!("internal: traced firearm {} not found", rerecord.traced_id);
        };
        let serial = if rerecord.exact {
            original.serial_number.clone()
        } else {
            Some(original.serial_number.as_deref().map_or_else(
                || {
                    recorded_serial(
                        "X",
                        SEIZED_SERIAL_BASE / 2 + u64::try_from(rerecord.id).unwrap_or(0),
                    )
                },
                |s| rerecorded_serial(s, g.rng.random_range(0..3)),
            ))
        };
        pending.firearms.push(firearm::Model {
            id: rerecord.id,
            serial_normalized: serial.as_deref().and_then(firearm::normalize_serial),
            serial_number: serial,
            owner_agency: rerecord.owner,
            source_system: SOURCE_SYSTEM.to_owned(),
            ingested_at: g.ingested_at,
            version: 1,
            ..original.clone()
        });
    }
    let mut near_serials = Vec::new();
    for near in std::mem::take(&mut pending.near) {
        let Some(original) = found.get(&near.traced_id) else {
            anyhow::bail!("internal: traced firearm {} not found", near.traced_id);
        };
        match unambiguous_near_serial(&mut state.near, state.traced, original) {
            Some((serial, edit)) => {
                near_serials.push(demo_near_serial::Model {
                    seized_firearm_id: near.id,
                    traced_firearm_id: original.id,
                    edit: edit.as_str().to_owned(),
                });
                pending.firearms.push(firearm::Model {
                    id: near.id,
                    serial_normalized: Some(serial.clone()),
                    serial_number: Some(serial),
                    owner_agency: near.owner,
                    source_system: SOURCE_SYSTEM.to_owned(),
                    ingested_at: g.ingested_at,
                    version: 1,
                    ..original.clone()
                });
            }
            None => pending.firearms.push(near.fallback),
        }
    }
    state.summary.near_serials += near_serials.len() as u64;
    pending.firearms.sort_by_key(|f| f.id);
    store::demo::insert_seizures(
        db,
        &pending.firearms,
        &pending.seizures,
        &pending.links,
        &near_serials,
    )
    .await?;
    pending.firearms.clear();
    pending.seizures.clear();
    pending.links.clear();
    Ok(())
}

/// What became of a demo seizure's firearms, spread by its id (not drawn from the generator, so the
/// rest of the dataset is unchanged): 70% retained as evidence, 15% transferred to ATF, 10%
/// destroyed, 5% returned to their owner. Illustrative: no published figure gives the split.
fn disposition(id: i64) -> Disposition {
    match id.rem_euclid(20) {
        0..=13 => Disposition::RetainedAsEvidence,
        14..=16 => Disposition::TransferredToAtf,
        17..=18 => Disposition::Destroyed,
        _ => Disposition::ReturnedToOwner,
    }
}

#[cfg(test)]
mod tests {
    use super::rerecorded_serial;
    use entity::firearm::normalize_serial;

    #[test]
    fn the_measures_name_the_operations_as_the_demo_records_them() {
        use crate::store::measures as m;
        assert_eq!(
            super::SOUTHWEST_BORDER_TASK_FORCE,
            m::SOUTHWEST_BORDER_TASK_FORCE
        );
        assert_eq!(super::BEST_TASK_FORCE, m::BEST_TASK_FORCE);
        assert_eq!(super::JOINT_OPERATION, m::JOINT_OPERATION);
    }

    #[test]
    fn rerecorded_serials_differ_but_normalize_alike() {
        for original in ["GLK-10000123", "0010000456", "P-10000789"] {
            for variant in 0..3 {
                let other = rerecorded_serial(original, variant);
                assert_ne!(other, original);
                assert_eq!(normalize_serial(&other), normalize_serial(original));
            }
        }
    }
}
