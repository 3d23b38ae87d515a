//! Traces of firearms recovered in Mexico, one firearm row each.
//!
//! The plan is a table of exact counts per year and cell (source class × kind of firearm × how
//! far the trace got), built by largest-remainder allocation from the published figures: first per
//! period (2014–2018, 2019–2021, 2022–2023, 2024), then split over the period's years keeping both
//! margins. Within a year the cells are shuffled with the seeded generator and written in batches.

use chrono::{Duration, NaiveDate};
use entity::{Agency, FirearmType, SourceClass, TraceStatus, firearm, trace};
use indicatif::ProgressBar;
use rand::Rng;
use rand::seq::SliceRandom;

use super::calibration as cal;
use super::catalog::{self, MX_RECOVERY, US_PURCHASE};
use super::{Gen, SOURCE_SYSTEM, TRACE_BATCH, allocate, scaled, split_margins};
use crate::store::{self, demo::MaxIds};

/// Source classes in the order the calibration tables use.
pub(super) const CLASSES: [SourceClass; 4] = [
    SourceClass::UsManufactured,
    SourceClass::UsImported,
    SourceClass::Foreign,
    SourceClass::Undetermined,
];

/// Kinds of firearm the plan counts; `Rifle50` is a .50 caliber rifle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Pistol,
    Revolver,
    Rifle,
    Rifle50,
    Shotgun,
    Other,
}

impl Kind {
    pub(super) const ALL: [Kind; 6] = [
        Kind::Pistol,
        Kind::Revolver,
        Kind::Rifle,
        Kind::Rifle50,
        Kind::Shotgun,
        Kind::Other,
    ];

    pub(super) fn firearm_type(self) -> FirearmType {
        match self {
            Kind::Pistol => FirearmType::Pistol,
            Kind::Revolver => FirearmType::Revolver,
            Kind::Rifle | Kind::Rifle50 => FirearmType::Rifle,
            Kind::Shotgun => FirearmType::Shotgun,
            Kind::Other => FirearmType::Other,
        }
    }

    pub(super) fn models(self) -> &'static [catalog::Model] {
        match self {
            Kind::Pistol => catalog::PISTOLS,
            Kind::Revolver => catalog::REVOLVERS,
            Kind::Rifle => catalog::RIFLES,
            Kind::Rifle50 => catalog::RIFLES_50,
            Kind::Shotgun => catalog::SHOTGUNS,
            Kind::Other => catalog::OTHERS,
        }
    }
}

/// Whether and how a trace reached a U.S. retail purchaser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purchase {
    None,
    /// Traced to a purchaser in a state drawn from the usual source-state weights.
    Random,
    /// Traced to a purchaser in one of the 2022–2023 strata (see [`strata_2022_2023`]).
    Stratum(usize),
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    class: usize,
    kind: Kind,
    purchase: Purchase,
}

/// Where a 2022–2023 purchase stratum's guns were bought and recovered.
struct Stratum {
    /// `None`: any state other than the four border states.
    purchase_state: Option<&'static str>,
    recovery: Recovery,
    /// Count at scale 1.
    count: u64,
}

enum Recovery {
    State(&'static str),
    Excluding(Vec<&'static str>),
    Any,
}

/// The 2022–2023 purchases as strata with exact counts: the five corridors, the rest of Texas and
/// Arizona (never recovered in a corridor state), California, New Mexico and all other states.
fn strata_2022_2023() -> Vec<Stratum> {
    let corridor = |share: u64| cal::PURCHASED_2022_2023 * share / 1000;
    let mut strata: Vec<Stratum> = cal::CORRIDORS_2022_2023
        .iter()
        .map(|&(us, mx, share)| Stratum {
            purchase_state: Some(us),
            recovery: Recovery::State(mx),
            count: corridor(share),
        })
        .collect();
    for (state, total) in [
        ("TX", cal::SOURCE_TX_2022_2023),
        ("AZ", cal::SOURCE_AZ_2022_2023),
    ] {
        let in_corridors: Vec<(&'static str, u64)> = cal::CORRIDORS_2022_2023
            .iter()
            .filter(|c| c.0 == state)
            .map(|&(_, mx, share)| (mx, corridor(share)))
            .collect();
        strata.push(Stratum {
            purchase_state: Some(state),
            recovery: Recovery::Excluding(in_corridors.iter().map(|c| c.0).collect()),
            count: total - in_corridors.iter().map(|c| c.1).sum::<u64>(),
        });
    }
    strata.push(Stratum {
        purchase_state: Some("CA"),
        recovery: Recovery::Any,
        count: cal::SOURCE_CA_2022_2023,
    });
    strata.push(Stratum {
        purchase_state: Some("NM"),
        recovery: Recovery::Any,
        count: cal::SOURCE_NM_2022_2023,
    });
    let border = cal::SOURCE_TX_2022_2023
        + cal::SOURCE_AZ_2022_2023
        + cal::SOURCE_CA_2022_2023
        + cal::SOURCE_NM_2022_2023;
    strata.push(Stratum {
        purchase_state: None,
        recovery: Recovery::Any,
        count: cal::PURCHASED_2022_2023 - border,
    });
    strata
}

/// Kind weights for everything except the U.S.-sourced guns of 2014–2018, chosen so the overall
/// type shares hold: the overall counts minus the fixed 2014–2018 U.S.-sourced counts.
fn rest_kind_weights() -> [u64; 6] {
    let total: u64 = cal::TRACES_PER_YEAR.iter().map(|y| y.1).sum();
    let overall = allocate(total, &cal::TYPE_SHARES_PER_MILLE);
    let us = |k: usize| cal::GAO_US_KINDS[0][k] + cal::GAO_US_KINDS[1][k];
    let rifles = overall[2].saturating_sub(us(2) + us(3));
    let rifles_50 = rifles * cal::REST_RIFLE_50_PER_MILLE / 1000;
    [
        overall[0].saturating_sub(us(0)),
        overall[1].saturating_sub(us(1)),
        rifles - rifles_50,
        rifles_50,
        overall[3].saturating_sub(us(4)),
        overall[4].saturating_sub(us(5)),
    ]
}

enum Purchased {
    /// This many of the period's U.S.-sourced traces reached a purchaser (scale 1).
    Count(u64),
    /// This share of them, per mille.
    PerMille(u64),
}

struct PeriodSpec {
    years: Vec<(i32, u64)>,
    class_weights: [u64; 4],
    /// Fixed kind tables for the U.S.-manufactured and U.S.-imported classes.
    us_kinds: Option<[[u64; 6]; 2]>,
    purchased: Purchased,
    strata: bool,
}

/// The per-year cell counts for the whole dataset.
pub(super) struct Plan {
    years: Vec<YearPlan>,
}

struct YearPlan {
    year: i32,
    cells: Vec<(Cell, u64)>,
}

impl Plan {
    pub(super) fn total_traces(&self) -> u64 {
        self.years
            .iter()
            .flat_map(|y| y.cells.iter().map(|c| c.1))
            .sum()
    }
}

fn years_between(from: i32, to: i32) -> Vec<(i32, u64)> {
    cal::TRACES_PER_YEAR
        .iter()
        .copied()
        .filter(|(y, _)| (from..=to).contains(y))
        .collect()
}

/// The four periods the published figures describe.
fn period_specs() -> [PeriodSpec; 4] {
    [
        PeriodSpec {
            years: years_between(cal::GAO_FIRST_YEAR, cal::GAO_LAST_YEAR),
            class_weights: [
                cal::GAO_US_MANUFACTURED,
                cal::GAO_US_IMPORTED,
                cal::GAO_FOREIGN,
                cal::GAO_UNDETERMINED,
            ],
            us_kinds: Some(cal::GAO_US_KINDS),
            purchased: Purchased::Count(cal::GAO_TRACED_TO_PURCHASER),
            strata: false,
        },
        PeriodSpec {
            years: years_between(2019, 2021),
            class_weights: cal::CLASS_WEIGHTS_2019_2021,
            us_kinds: None,
            purchased: Purchased::PerMille(cal::PURCHASED_PER_MILLE_2019_2021),
            strata: false,
        },
        PeriodSpec {
            years: years_between(2022, 2023),
            class_weights: cal::CLASS_WEIGHTS_2022_2023,
            us_kinds: None,
            purchased: Purchased::Count(cal::PURCHASED_2022_2023),
            strata: true,
        },
        PeriodSpec {
            years: years_between(2024, 2024),
            class_weights: cal::CLASSES_2024,
            us_kinds: None,
            purchased: Purchased::PerMille(cal::PURCHASED_PER_MILLE_2024),
            strata: false,
        },
    ]
}

/// Builds the plan for a scale.
pub(super) fn plan(scale: f64) -> anyhow::Result<Plan> {
    let rest = rest_kind_weights();
    let strata = strata_2022_2023();
    let mut years = Vec::new();
    for spec in period_specs() {
        let sizes: Vec<u64> = spec.years.iter().map(|y| scaled(y.1, scale)).collect();
        let cells = period_cells(&spec, sizes.iter().sum(), scale, &rest, &strata)?;
        let counts: Vec<u64> = cells.iter().map(|c| c.1).collect();
        let rows = split_margins(&counts, &sizes)?;
        for ((year, _), row) in spec.years.iter().zip(rows) {
            years.push(YearPlan {
                year: *year,
                cells: cells
                    .iter()
                    .zip(row)
                    .filter(|(_, n)| *n > 0)
                    .map(|((cell, _), n)| (*cell, n))
                    .collect(),
            });
        }
    }
    Ok(Plan { years })
}

/// The cells of one period and their counts over its `total` traces (none empty): the
/// U.S.-sourced cells split by how far they were traced, then the foreign and undetermined ones.
fn period_cells(
    spec: &PeriodSpec,
    total: u64,
    scale: f64,
    rest: &[u64; 6],
    strata: &[Stratum],
) -> anyhow::Result<Vec<(Cell, u64)>> {
    let classes = allocate(total, &spec.class_weights);
    // U.S.-sourced cells (class, kind, count), then how many of each reached a purchaser.
    let mut us_cells = Vec::new();
    for (class, &count) in classes.iter().enumerate().take(2) {
        let weights = spec.us_kinds.map_or(*rest, |k| k[class]);
        for (kind, n) in Kind::ALL.iter().zip(allocate(count, &weights)) {
            us_cells.push((class, *kind, n));
        }
    }
    let us_counts: Vec<u64> = us_cells.iter().map(|c| c.2).collect();
    let us_total: u64 = us_counts.iter().sum();
    let purchased_total = match spec.purchased {
        Purchased::Count(n) => scaled(n, scale).min(us_total),
        Purchased::PerMille(pm) => allocate(us_total, &[pm, 1000 - pm.min(1000)])[0],
    };
    let purchased = allocate(purchased_total, &us_counts);
    let per_cell_strata = if spec.strata {
        let weights: Vec<u64> = strata.iter().map(|s| s.count).collect();
        Some(split_margins(
            &allocate(purchased_total, &weights),
            &purchased,
        )?)
    } else {
        None
    };
    let mut cells: Vec<(Cell, u64)> = Vec::new();
    for (index, &(class, kind, n)) in us_cells.iter().enumerate() {
        let bought = purchased[index];
        let cell = |purchase| Cell {
            class,
            kind,
            purchase,
        };
        match &per_cell_strata {
            Some(rows) => {
                for (stratum, &count) in rows[index].iter().enumerate() {
                    cells.push((cell(Purchase::Stratum(stratum)), count));
                }
            }
            None => cells.push((cell(Purchase::Random), bought)),
        }
        cells.push((cell(Purchase::None), n - bought));
    }
    for (class, &count) in classes.iter().enumerate().skip(2) {
        for (kind, n) in Kind::ALL.iter().zip(allocate(count, rest)) {
            let cell = Cell {
                class,
                kind: *kind,
                purchase: Purchase::None,
            };
            cells.push((cell, n));
        }
    }
    cells.retain(|c| c.1 > 0);
    Ok(cells)
}

/// What the trace generator wrote.
pub(super) struct Traced {
    pub traces: u64,
    /// Ids of the traced firearms: `first_firearm_id..=last_firearm_id`.
    pub first_firearm_id: i64,
    pub last_firearm_id: i64,
    /// Per traced firearm (by id from `first_firearm_id`), its catalogue entry (see
    /// [`model_code`]), or [`NO_SERIAL`] when its serial is obliterated: with the id, what its
    /// serial is, so the seizure generator can tell which traced serials a serial is near.
    pub models: Vec<u16>,
}

/// A traced firearm with no serial in [`Traced::models`].
pub(super) const NO_SERIAL: u16 = u16::MAX;

/// A catalogue entry as a number: the kind's index in [`Kind::ALL`] and the model's in its list.
fn model_code(kind: Kind, model_index: usize) -> u16 {
    let kind_index = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
    u16::try_from(kind_index * 256 + model_index).unwrap_or(NO_SERIAL)
}

/// The catalogue entry of a code from [`model_code`].
pub(super) fn model_of(code: u16) -> Option<(Kind, &'static catalog::Model)> {
    let kind = *Kind::ALL.get(usize::from(code / 256))?;
    Some((kind, kind.models().get(usize::from(code % 256))?))
}

impl Traced {
    /// The normalized serial prefixes of the catalogue's models of this manufacturer (normalized)
    /// and type.
    pub(super) fn prefixes(manufacturer: &str, kind: FirearmType) -> Vec<String> {
        let mut prefixes: Vec<String> = Kind::ALL
            .iter()
            .filter(|k| k.firearm_type() == kind)
            .flat_map(|k| k.models())
            .filter(|m| firearm::normalize_manufacturer(m.manufacturer) == manufacturer)
            .map(|m| firearm::normalize_serial(m.serial_prefix).unwrap_or_default())
            .collect();
        prefixes.sort();
        prefixes.dedup();
        prefixes
    }

    /// The id of the traced firearm whose normalized serial is `serial`, of this manufacturer
    /// (normalized) and type, if there is one; `prefixes` are [`Traced::prefixes`] of the two.
    pub(super) fn find(
        &self,
        serial: &str,
        prefixes: &[String],
        manufacturer: &str,
        kind: FirearmType,
    ) -> Option<i64> {
        for prefix in prefixes {
            let Some(digits) = serial.strip_prefix(prefix.as_str()) else {
                continue;
            };
            if digits.is_empty()
                || digits.len() > 12
                || digits.starts_with('0')
                || !digits.bytes().all(|b| b.is_ascii_digit())
            {
                continue;
            }
            let Ok(number) = digits.parse::<u64>() else {
                continue;
            };
            let Some(offset) = number.checked_sub(TRACED_SERIAL_BASE + 1) else {
                continue;
            };
            let Ok(offset) = usize::try_from(offset) else {
                continue;
            };
            let Some((found_kind, found)) = self.models.get(offset).copied().and_then(model_of)
            else {
                continue;
            };
            if found_kind.firearm_type() == kind
                && firearm::normalize_manufacturer(found.manufacturer) == manufacturer
                && firearm::normalize_serial(found.serial_prefix).unwrap_or_default() == *prefix
            {
                return Some(self.first_firearm_id + i64::try_from(offset).ok()?);
            }
        }
        None
    }
}

/// The serial number as recorded on a trace (all-digit serials keep their leading zeros).
pub(super) fn recorded_serial(prefix: &str, number: u64) -> String {
    if prefix.is_empty() {
        format!("00{number}")
    } else {
        format!("{prefix}-{number}")
    }
}

/// Serial numbers of traced firearms start here; seized-only firearms use [`SEIZED_SERIAL_BASE`].
const TRACED_SERIAL_BASE: u64 = 10_000_000;
pub(super) const SEIZED_SERIAL_BASE: u64 = 900_000_000;

/// Writes every trace of the plan, year by year, in batches.
pub(super) async fn generate(
    db: &sea_orm::DatabaseConnection,
    g: &mut Gen,
    plan: &Plan,
    ids: MaxIds,
    progress: &ProgressBar,
) -> anyhow::Result<Traced> {
    let mut next_firearm = ids.firearm + 1;
    let mut next_trace = ids.trace + 1;
    let strata = strata_2022_2023();
    let purchaser_pool = scaled(60_000, g.scale).max(100);
    let mut written = 0u64;
    let mut models = Vec::new();
    for year in &plan.years {
        progress.set_message(format!("traces {}", year.year));
        let mut order: Vec<u32> = Vec::new();
        for (index, (_, count)) in year.cells.iter().enumerate() {
            let index = u32::try_from(index)?;
            order.extend(std::iter::repeat_n(index, usize::try_from(*count)?));
        }
        order.shuffle(&mut g.rng);
        let mut sequence = 0u64;
        for chunk in order.chunks(TRACE_BATCH) {
            let mut firearms = Vec::with_capacity(chunk.len());
            let mut traces = Vec::with_capacity(chunk.len());
            for &cell_index in chunk {
                let cell = year.cells[cell_index as usize].0;
                sequence += 1;
                let (firearm, code) = traced_firearm(g, cell, next_firearm, ids.firearm);
                models.push(code);
                let trace = trace_row(
                    g,
                    cell,
                    year.year,
                    sequence,
                    next_trace,
                    &firearm,
                    &strata,
                    purchaser_pool,
                )?;
                firearms.push(firearm);
                traces.push(trace);
                next_firearm += 1;
                next_trace += 1;
            }
            store::demo::insert_traces(db, &firearms, &traces).await?;
            written += chunk.len() as u64;
            progress.inc(chunk.len() as u64);
        }
    }
    Ok(Traced {
        traces: written,
        first_firearm_id: ids.firearm + 1,
        last_firearm_id: next_firearm - 1,
        models,
    })
}

/// A traced firearm, with its catalogue entry's code (or [`NO_SERIAL`]).
fn traced_firearm(g: &mut Gen, cell: Cell, id: i64, id_base: i64) -> (firearm::Model, u16) {
    let models = cell.kind.models();
    let model_index = g.pick_weighted(models, |m| m.weights[cell.class]);
    let model = &models[model_index];
    let number = TRACED_SERIAL_BASE + u64::try_from(id - id_base).unwrap_or(0);
    // Undetermined origin is often an obliterated serial; a few foreign ones too.
    let obliterated = match CLASSES[cell.class] {
        SourceClass::Undetermined => g.chance(300),
        SourceClass::Foreign => g.chance(20),
        _ => false,
    };
    let serial = (!obliterated).then(|| recorded_serial(model.serial_prefix, number));
    let code = if obliterated {
        NO_SERIAL
    } else {
        model_code(cell.kind, model_index)
    };
    let firearm = new_firearm(
        g,
        model,
        cell.kind,
        CLASSES[cell.class],
        id,
        serial,
        Agency::Atf,
    );
    (firearm, code)
}

/// A firearm row of a catalogue model for a source class.
pub(super) fn new_firearm(
    g: &Gen,
    model: &catalog::Model,
    kind: Kind,
    class: SourceClass,
    id: i64,
    serial: Option<String>,
    owner: Agency,
) -> firearm::Model {
    let (country, importer) = match class {
        SourceClass::UsManufactured => (Some("US".to_owned()), None),
        SourceClass::UsImported => (
            Some(model.country.to_owned()),
            model.importer.map(str::to_owned),
        ),
        SourceClass::Foreign => (Some(model.country.to_owned()), None),
        SourceClass::Undetermined => (None, None),
    };
    firearm::Model {
        id,
        manufacturer: model.manufacturer.to_owned(),
        model: Some(model.model.to_owned()),
        firearm_type: kind.firearm_type(),
        caliber: Some(model.caliber.to_owned()),
        serial_normalized: serial.as_deref().and_then(firearm::normalize_serial),
        serial_number: serial,
        country_of_manufacture: country,
        importer,
        owner_agency: owner,
        source_system: SOURCE_SYSTEM.to_owned(),
        ingested_at: g.ingested_at,
        version: 1,
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site, every value is needed"
)]
fn trace_row(
    g: &mut Gen,
    cell: Cell,
    year: i32,
    sequence: u64,
    id: i64,
    firearm: &firearm::Model,
    strata: &[Stratum],
    purchaser_pool: u64,
) -> anyhow::Result<trace::Model> {
    let recovery_date = random_day(g, year)?;
    let (purchase_state, recovery_state) = purchase_and_recovery(g, cell.purchase, strata)?;
    let municipalities = MX_RECOVERY[recovery_state].2;
    let municipality = if municipalities.len() > 1 && !g.chance(550) {
        municipalities[g.rng.random_range(1..municipalities.len())]
    } else {
        municipalities[0]
    };
    let class = CLASSES[cell.class];
    let status = trace_status(g, purchase_state.is_some(), class, firearm);
    let mut row = trace::Model {
        id,
        trace_number: format!("T{year}-{sequence:06}"),
        firearm_id: firearm.id,
        requesting_agency: "FGR".to_owned(),
        recovery_date,
        recovery_year: year,
        recovery_state: MX_RECOVERY[recovery_state].0.to_owned(),
        recovery_municipality: Some(municipality.to_owned()),
        status,
        source_class: class,
        purchase_state: None,
        purchase_date: None,
        time_to_crime_days: None,
        dealer_license: None,
        purchaser_name: None,
        owner_agency: Agency::Atf,
        source_system: SOURCE_SYSTEM.to_owned(),
        ingested_at: g.ingested_at,
        version: 1,
    };
    if let Some(state) = purchase_state {
        record_purchase(g, &mut row, state, purchaser_pool);
    }
    Ok(row)
}

/// The U.S. state of the retail purchase, if the trace reached one, and the index into
/// [`MX_RECOVERY`] of the Mexican state of recovery.
fn purchase_and_recovery(
    g: &mut Gen,
    purchase: Purchase,
    strata: &[Stratum],
) -> anyhow::Result<(Option<&'static str>, usize)> {
    Ok(match purchase {
        Purchase::None => (None, pick_recovery(g, &Recovery::Any)),
        Purchase::Random => {
            let state = US_PURCHASE[g.pick_weighted(US_PURCHASE, |s| s.1)].0;
            (Some(state), pick_recovery(g, &Recovery::Any))
        }
        Purchase::Stratum(index) => {
            let stratum = strata
                .get(index)
                .ok_or_else(|| anyhow::anyhow!("internal: no purchase stratum {index}"))?;
            let state = match stratum.purchase_state {
                Some(state) => state,
                None => {
                    let others: Vec<&(&str, u32)> = US_PURCHASE
                        .iter()
                        .filter(|s| !matches!(s.0, "TX" | "AZ" | "CA" | "NM"))
                        .collect();
                    others[g.pick_weighted(&others, |s| s.1)].0
                }
            };
            (Some(state), pick_recovery(g, &stratum.recovery))
        }
    })
}

/// How far the trace got: completed when it reached a purchaser, else drawn by source class.
fn trace_status(
    g: &mut Gen,
    purchased: bool,
    class: SourceClass,
    firearm: &firearm::Model,
) -> TraceStatus {
    match (purchased, class) {
        (true, _) => TraceStatus::Completed,
        (false, SourceClass::UsManufactured | SourceClass::UsImported) => {
            if g.chance(850) {
                TraceStatus::NoPurchaserIdentified
            } else {
                TraceStatus::Pending
            }
        }
        (false, SourceClass::Foreign) => {
            if g.chance(600) {
                TraceStatus::NoPurchaserIdentified
            } else {
                TraceStatus::NotTraceable
            }
        }
        (false, SourceClass::Undetermined) => {
            if firearm.serial_number.is_none() || g.chance(750) {
                TraceStatus::NotTraceable
            } else {
                TraceStatus::Pending
            }
        }
    }
}

/// Fills in the retail purchase of a trace that reached a purchaser in `state`.
fn record_purchase(g: &mut Gen, row: &mut trace::Model, state: &str, purchaser_pool: u64) {
    let days = time_to_crime(g);
    let state_index = US_PURCHASE.iter().position(|s| s.0 == state).unwrap_or(0);
    let dealer = state_index * 100 + g.rng.random_range(0..60);
    let purchaser = g.rng.random_range(1..=purchaser_pool);
    row.purchase_state = Some(state.to_owned());
    row.purchase_date = Some(row.recovery_date - Duration::days(i64::from(days)));
    row.time_to_crime_days = Some(days);
    row.dealer_license = Some(format!("9-99-999-01-0A-{dealer:05}"));
    row.purchaser_name = Some(format!("Synthetic Purchaser {purchaser:06}"));
}

/// Index into [`MX_RECOVERY`].
fn pick_recovery(g: &mut Gen, recovery: &Recovery) -> usize {
    match recovery {
        Recovery::State(code) => MX_RECOVERY.iter().position(|s| s.0 == *code).unwrap_or(0),
        Recovery::Excluding(codes) => {
            g.pick_weighted(MX_RECOVERY, |s| if codes.contains(&s.0) { 0 } else { s.1 })
        }
        Recovery::Any => g.pick_weighted(MX_RECOVERY, |s| s.1),
    }
}

/// A day of the calendar year, uniformly.
pub(super) fn random_day(g: &mut Gen, year: i32) -> anyhow::Result<NaiveDate> {
    let first = NaiveDate::from_ymd_opt(year, 1, 1)
        .ok_or_else(|| anyhow::anyhow!("year {year} is out of range"))?;
    let days = if first.leap_year() { 366 } else { 365 };
    Ok(first + Duration::days(g.rng.random_range(0..days)))
}

/// Days from retail purchase to recovery: log-normal around the published median.
fn time_to_crime(g: &mut Gen) -> i32 {
    // Box–Muller: a standard normal from two uniforms.
    let u1: f64 = 1.0 - g.rng.random::<f64>();
    let u2: f64 = g.rng.random::<f64>();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let days = cal::MEDIAN_TIME_TO_CRIME_DAYS * (cal::TIME_TO_CRIME_LOG_SIGMA * z).exp();
    #[expect(
        clippy::cast_possible_truncation,
        reason = "clamped to a small positive range first"
    )]
    let days = days.clamp(7.0, 12_000.0).round() as i32;
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_one_plan_reproduces_the_published_counts() {
        let plan = plan(1.0).expect("plan");
        assert_eq!(plan.total_traces(), 218_526);
        let count = |f: &dyn Fn(i32, &Cell) -> bool| -> u64 {
            plan.years
                .iter()
                .flat_map(|y| y.cells.iter().filter(|c| f(y.year, &c.0)).map(|c| c.1))
                .sum()
        };
        let gao = |y: i32| (2014..=2018).contains(&y);
        assert_eq!(count(&|y, c| gao(y) && c.class < 2), 56_500);
        assert_eq!(
            count(&|y, c| gao(y) && c.purchase != Purchase::None),
            26_860
        );
        assert_eq!(
            count(&|y, c| gao(y) && c.class < 2 && c.kind == Kind::Rifle50),
            634
        );
        assert_eq!(count(&|y, c| y == 2024 && c.class == 0), 13_004);
        let stratum = |y: i32, c: &Cell, s: usize| {
            (2022..=2023).contains(&y) && c.purchase == Purchase::Stratum(s)
        };
        assert_eq!(count(&|y, c| stratum(y, c, 0)), 1_638);
        assert_eq!(count(&|y, c| stratum(y, c, 9)), 4_139);
    }
}
