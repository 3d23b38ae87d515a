//! An integer-programming attacker against aggregate-only answers.
//!
//! For every aggregate-only (role, entity) of the default policy, the attacker asks, over HTTP as
//! that role, every grouping of one to four dimensions of the entity. It models the true counts of
//! the full cross-classification of the dimensions as integer variables and constrains every
//! published cell (every bucket, every combination left out and every total) to what the README
//! documents about the method: a listed count is within ±D of the truth and counts at least one
//! record, an unlisted combination holds at most D records, a sum is within its documented noise.
//! Then, for every cell whose true count is 1–4 (read as a role with exact aggregates), it minimises
//! and maximises the cell's count (integer program) and sum (linear program) and checks that
//! neither is pinned to its true value.
//!
//! The same attacker pins small cells when the answers are exact (no noise) and when small cells
//! are only withheld table by table, so it is able to fail.

use std::collections::{BTreeSet, HashMap};

use chrono::{TimeZone, Utc};
use entity::*;
use microlp::{ComparisonOp, OptimizationDirection, Problem};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set};
use serde_json::Value;

use crate::fixtures::{self, date};
use crate::helpers::{TestApp, spawn_app_with};

/// The documented largest change to a count (`perturbation.max_change`).
const MAX_CHANGE: i64 = 5;
/// The documented relative noise of a sum (`perturbation.sum_noise`).
const SUM_NOISE: f64 = 0.1;
/// The documented threshold (`suppression_threshold`).
const THRESHOLD: i64 = 5;

/// What the attacker knows about an entity's `…Stats` query.
pub(crate) struct Target {
    pub root: &'static str,
    /// `(groupBy enum value, key field)` of every dimension attacked.
    pub dims: &'static [(&'static str, &'static str)],
    /// `(bucket field, documented noise floor in the field's unit)` of every summed metric; money
    /// is read in cents.
    pub sums: &'static [(&'static str, i64)],
    /// The aggregate-only roles of the default policy.
    pub attackers: &'static [Role],
    /// A role with exact aggregates: the truth.
    pub exact: Role,
}

const TRACES: Target = Target {
    root: "traceStats",
    dims: &[
        ("YEAR", "year"),
        ("RECOVERY_STATE", "recoveryState"),
        ("SOURCE_CLASS", "sourceClass"),
        ("STATUS", "status"),
        ("FIREARM_TYPE", "firearmType"),
        ("CALIBER", "caliber"),
        ("MANUFACTURER", "manufacturer"),
        ("PURCHASE_STATE", "purchaseState"),
    ],
    sums: &[],
    attackers: &[Role::Cbp, Role::State, Role::Oversight],
    exact: Role::Atf,
};

const SEIZURES: Target = Target {
    root: "seizureStats",
    dims: &[
        ("FISCAL_YEAR", "fiscalYear"),
        ("SEIZING_AGENCY", "seizingAgency"),
        ("US_STATE", "usState"),
        ("PORT_OF_ENTRY", "portOfEntry"),
        ("DIRECTION", "direction"),
        ("OPERATION", "operation"),
    ],
    sums: &[("firearms", 2), ("ammunitionRounds", 50)],
    attackers: &[Role::State, Role::Oversight],
    exact: Role::Atf,
};

const TRAININGS: Target = Target {
    root: "trainingStats",
    dims: &[
        ("FISCAL_YEAR", "fiscalYear"),
        ("COURSE", "course"),
        ("PROVIDER", "provider"),
        ("MEXICAN_STATE", "mexicanState"),
    ],
    sums: &[("participants", 3), ("etraceAccountsGranted", 2)],
    attackers: &[Role::Oversight],
    exact: Role::Atf,
};

const FUNDING: Target = Target {
    root: "fundingStats",
    dims: &[
        ("FISCAL_YEAR", "fiscalYear"),
        ("CATEGORY", "category"),
        ("IMPLEMENTING_AGENCY", "implementingAgency"),
        ("PROGRAM", "program"),
    ],
    sums: &[("obligated", 100_000), ("disbursed", 100_000)],
    attackers: &[Role::Ice, Role::Oversight],
    exact: Role::State,
};

/// One published cell: its count and sums (`None` when not shown).
#[derive(Debug, Clone, PartialEq)]
struct Published {
    count: i64,
    sums: Vec<Option<i64>>,
}

/// One answer: the grouped dimensions (indices), the listed cells by key, and the total.
#[derive(Debug, Clone, PartialEq)]
struct Table {
    dims: Vec<usize>,
    cells: HashMap<Vec<Value>, Published>,
    total: i64,
}

/// Money arrives as a decimal string of dollars; everything else as an integer.
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<f64>().ok().map(|d| (d * 100.0).round() as i64),
        _ => None,
    }
}

/// Every grouping of one to `most` of `n` dimensions.
fn groupings(n: usize, most: usize) -> Vec<Vec<usize>> {
    (1u32..(1 << n))
        .map(|mask| (0..n).filter(|i| mask & (1 << i) != 0).collect::<Vec<_>>())
        .filter(|g| g.len() <= most)
        .collect()
}

/// Asks every grouping of up to four dimensions as `role`.
async fn collect(app: &TestApp, role: Role, target: &Target) -> Vec<Table> {
    let caller = app.as_role(role);
    let mut tables = Vec::new();
    for dims in groupings(target.dims.len(), 4) {
        let group_by: Vec<&str> = dims.iter().map(|d| target.dims[*d].0).collect();
        let keys: Vec<&str> = dims.iter().map(|d| target.dims[*d].1).collect();
        let sums: Vec<&str> = target.sums.iter().map(|(s, _)| *s).collect();
        let query = format!(
            "{{ {}(groupBy: [{}]) {{ total buckets {{ key {{ {} }} count {} }} }} }}",
            target.root,
            group_by.join(", "),
            keys.join(" "),
            sums.join(" ")
        );
        let answer = caller.query_ok(&query).await;
        let stats = &answer["data"][target.root];
        let mut cells = HashMap::new();
        for bucket in stats["buckets"].as_array().expect("buckets") {
            let key: Vec<Value> = keys.iter().map(|k| bucket["key"][*k].clone()).collect();
            let published = Published {
                count: bucket["count"].as_i64().expect("a listed cell has a count"),
                sums: sums.iter().map(|s| number(&bucket[*s])).collect(),
            };
            assert!(cells.insert(key, published).is_none(), "{answer}");
        }
        tables.push(Table {
            dims,
            cells,
            total: stats["total"].as_i64().expect("a total"),
        });
    }
    tables
}

/// A linear constraint: the sum of the variables `over` lies within `[lo, hi]`.
struct Constraint {
    over: Vec<usize>,
    lo: f64,
    hi: f64,
}

/// What the attacker believes about a published table, cell by cell.
enum Reading {
    /// The cell key method, read with its documented bounds.
    Perturbed,
    /// No noise at all: every number is exact.
    Exact,
    /// Exact numbers with every cell under the threshold withheld, table by table.
    SmallCellsWithheld,
}

/// The model: the cross-classification of the dimensions' values, the constraints on counts and
/// on each sum, and the cells whose true count is 1–4 with their true count and sums.
struct Model {
    vars: usize,
    counts: Vec<Constraint>,
    sums: Vec<Vec<Constraint>>,
    small: Vec<Small>,
}

/// A cell whose true count is 1–4: which answer and key, its variables, its true count and sums.
struct Small {
    label: String,
    over: Vec<usize>,
    count: i64,
    sums: Vec<Option<i64>>,
}

fn build(target: &Target, published: &[Table], truth: &[Table], reading: Reading) -> Model {
    // Every dimension's values, as the one-dimension answers list them (the dataset gives every
    // value more than `MAX_CHANGE` records, so none can vanish).
    let domains: Vec<Vec<Value>> = (0..target.dims.len())
        .map(|d| {
            let table = truth
                .iter()
                .find(|t| t.dims == [d])
                .expect("one-dimension table");
            let values: BTreeSet<String> = table.cells.keys().map(|k| k[0].to_string()).collect();
            values
                .into_iter()
                .map(|v| serde_json::from_str(&v).unwrap())
                .collect()
        })
        .collect();
    let mut joint: Vec<Vec<Value>> = vec![vec![]];
    for domain in &domains {
        joint = joint
            .into_iter()
            .flat_map(|prefix| {
                domain.iter().map(move |v| {
                    let mut next = prefix.clone();
                    next.push(v.clone());
                    next
                })
            })
            .collect();
    }
    let d = MAX_CHANGE as f64;
    let mut counts = vec![];
    let mut sums: Vec<Vec<Constraint>> = target.sums.iter().map(|_| vec![]).collect();
    let mut small = vec![];
    for (table, exact) in published.iter().zip(truth) {
        assert_eq!(table.dims, exact.dims);
        // Every combination of the grouped dimensions' values, listed or not.
        let mut combos: HashMap<Vec<Value>, Vec<usize>> = HashMap::new();
        for (j, values) in joint.iter().enumerate() {
            let key: Vec<Value> = table.dims.iter().map(|d| values[*d].clone()).collect();
            combos.entry(key).or_default().push(j);
        }
        for (key, over) in combos {
            let true_count = exact.cells.get(&key).map_or(0, |c| c.count);
            let (lo, hi) = match (&reading, table.cells.get(&key)) {
                (Reading::Perturbed, Some(p)) => {
                    ((p.count as f64 - d).max(1.0), p.count as f64 + d)
                }
                (Reading::Perturbed, None) => (0.0, d),
                (Reading::Exact, Some(p)) => (p.count as f64, p.count as f64),
                (Reading::Exact, None) => (0.0, 0.0),
                (Reading::SmallCellsWithheld, Some(p)) if p.count >= THRESHOLD => {
                    (p.count as f64, p.count as f64)
                }
                (Reading::SmallCellsWithheld, Some(_)) => (1.0, (THRESHOLD - 1) as f64),
                (Reading::SmallCellsWithheld, None) => (0.0, 0.0),
            };
            assert!(
                lo <= true_count as f64 && true_count as f64 <= hi,
                "{}: the truth {true_count} of {key:?} is outside [{lo}, {hi}]: the model is wrong",
                target.root
            );
            let sums_shown = match (&reading, table.cells.get(&key)) {
                (Reading::SmallCellsWithheld, Some(p)) => p.count >= THRESHOLD,
                (_, shown) => shown.is_some(),
            };
            if let Some(p) = table.cells.get(&key).filter(|_| sums_shown) {
                for (m, (_, floor)) in target.sums.iter().enumerate() {
                    let Some(shown) = p.sums[m] else { continue };
                    let (lo, hi) = match reading {
                        Reading::Perturbed => {
                            let (s, f) = (shown as f64, *floor as f64);
                            (
                                (s - f).min(s / (1.0 + SUM_NOISE)).max(0.0),
                                (s + f).max(s / (1.0 - SUM_NOISE)),
                            )
                        }
                        _ => (shown as f64, shown as f64),
                    };
                    let truth = exact.cells[&key].sums[m].expect("exact sum") as f64;
                    assert!(
                        lo <= truth && truth <= hi,
                        "{key:?}: sum {truth} [{lo}, {hi}]"
                    );
                    sums[m].push(Constraint {
                        over: over.clone(),
                        lo,
                        hi,
                    });
                }
            }
            if (1..THRESHOLD).contains(&true_count) {
                let label = format!(
                    "{}({}) {key:?}",
                    target.root,
                    table
                        .dims
                        .iter()
                        .map(|d| target.dims[*d].0)
                        .collect::<Vec<_>>()
                        .join(",")
                );
                small.push(Small {
                    label,
                    over: over.clone(),
                    count: true_count,
                    sums: exact.cells[&key].sums.clone(),
                });
            }
            counts.push(Constraint { over, lo, hi });
        }
        // The total: every record.
        let all: Vec<usize> = (0..joint.len()).collect();
        let (lo, hi) = match reading {
            Reading::Perturbed => ((table.total as f64 - d).max(0.0), table.total as f64 + d),
            _ => (table.total as f64, table.total as f64),
        };
        counts.push(Constraint { over: all, lo, hi });
    }
    // The same record set appears in many tables (a dimension with one value changes nothing):
    // constrain and attack each once.
    let mut seen = BTreeSet::new();
    small.retain(|cell| seen.insert(cell.over.clone()));
    Model {
        vars: joint.len(),
        counts: merged(counts),
        sums: sums.into_iter().map(merged).collect(),
        small,
    }
}

/// One constraint per set of variables, with the intersection of their bounds.
fn merged(constraints: Vec<Constraint>) -> Vec<Constraint> {
    let mut by_set: HashMap<Vec<usize>, (f64, f64)> = HashMap::new();
    for c in constraints {
        let bounds = by_set.entry(c.over).or_insert((f64::MIN, f64::MAX));
        bounds.0 = bounds.0.max(c.lo);
        bounds.1 = bounds.1.min(c.hi);
    }
    by_set
        .into_iter()
        .map(|(over, (lo, hi))| Constraint { over, lo, hi })
        .collect()
}

/// The least or greatest value of the sum of `target`'s variables under `constraints`: integer
/// variables for counts, real ones for sums.
fn optimum(
    vars: usize,
    constraints: &[Constraint],
    target: &[usize],
    integer: bool,
    maximize: bool,
) -> f64 {
    let direction = if maximize {
        OptimizationDirection::Maximize
    } else {
        OptimizationDirection::Minimize
    };
    let mut problem = Problem::new(direction);
    let in_target: BTreeSet<usize> = target.iter().copied().collect();
    let x: Vec<_> = (0..vars)
        .map(|j| {
            let objective = if in_target.contains(&j) { 1.0 } else { 0.0 };
            if integer {
                problem.add_integer_var(objective, (0, 1_000_000))
            } else {
                problem.add_var(objective, (0.0, f64::INFINITY))
            }
        })
        .collect();
    for c in constraints {
        let terms: Vec<_> = c.over.iter().map(|j| (x[*j], 1.0)).collect();
        if c.lo == c.hi {
            problem.add_constraint(terms.as_slice(), ComparisonOp::Eq, c.lo);
        } else {
            problem.add_constraint(terms.as_slice(), ComparisonOp::Ge, c.lo);
            problem.add_constraint(terms.as_slice(), ComparisonOp::Le, c.hi);
        }
    }
    problem
        .solve()
        .expect("the truth is feasible")
        .into_solution()
        .expect("solved")
        .objective()
}

/// The small cells whose count, or one of whose sums, the attacker pins to its true value.
fn pinned(model: &Model) -> Vec<String> {
    let mut out = vec![];
    for Small {
        label,
        over,
        count,
        sums,
    } in &model.small
    {
        let t = *count as f64;
        let high = optimum(model.vars, &model.counts, over, true, true).round();
        if high <= t && optimum(model.vars, &model.counts, over, true, false).round() >= t {
            out.push(format!("{label}: count {count}"));
        }
        for (m, constraints) in model.sums.iter().enumerate() {
            let Some(truth) = sums[m] else { continue };
            let high = optimum(model.vars, constraints, over, false, true);
            let low = optimum(model.vars, constraints, over, false, false);
            // The sum is an integer: pinned when only the true one fits.
            if (low - 1e-6).ceil() as i64 == truth && (high + 1e-6).floor() as i64 == truth {
                out.push(format!("{label}: sum {m} = {truth}"));
            }
        }
    }
    out
}

/// Attacks one entity as each of its aggregate-only roles, and checks that the attacker does pin
/// cells of the same groupings when they are exact or only withheld when small. Returns how many
/// small cells (distinct record sets) were attacked.
pub(crate) async fn attack(app: &TestApp, target: &Target) -> usize {
    let truth = collect(app, target.exact, target).await;
    let mut published: Option<Vec<Table>> = None;
    for role in target.attackers {
        let tables = collect(app, *role, target).await;
        // Every aggregate-only role gets the same protected numbers: one attack covers them all.
        match &published {
            Some(first) => assert!(first == &tables, "{role} differs"),
            None => published = Some(tables),
        }
    }
    let published = published.expect("an aggregate-only role");
    // Every value of every dimension is listed in the one-dimension answers, so the attacker knows
    // the values the model ranges over.
    for (shown, exact) in published
        .iter()
        .zip(&truth)
        .filter(|(t, _)| t.dims.len() == 1)
    {
        for key in exact.cells.keys() {
            assert!(
                shown.cells.contains_key(key),
                "{}: {key:?} is listed",
                target.root
            );
        }
    }
    let model = build(target, &published, &truth, Reading::Perturbed);
    assert!(!model.small.is_empty(), "{}: no small cell", target.root);
    let found = pinned(&model);
    assert!(
        found.is_empty(),
        "{}: the attacker pinned {} small cells: {found:#?}",
        target.root,
        found.len()
    );

    // The same attacker against exact answers, and against small cells withheld table by table.
    let exact = build(target, &truth, &truth, Reading::Exact);
    assert!(
        pinned(&exact).len() >= exact.small.len(),
        "{}: exact answers pin every small cell",
        target.root
    );
    let withheld = build(target, &truth, &truth, Reading::SmallCellsWithheld);
    let found = pinned(&withheld);
    assert!(
        !found.is_empty(),
        "{}: per-table suppression gives small cells away",
        target.root
    );
    model.small.len()
}

/// Attacks a whole entity, asserting the dataset has many small cells.
async fn attack_all(app: &TestApp, target: &Target) {
    let attacked = attack(app, target).await;
    assert!(attacked >= 10, "{}: {attacked} small cells", target.root);
}

/// A test server without a rate limit (the attacker sends a few hundred queries).
pub(crate) async fn unthrottled() -> TestApp {
    spawn_app_with(|settings| settings.limits.rate_per_second = 0.0).await
}

/// How many records a cell of the cross-classification gets: many small cells, some large ones,
/// and every value of every dimension well above the largest change.
fn cell_count(i: usize) -> usize {
    const COUNTS: [usize; 16] = [0, 1, 2, 3, 4, 1, 9, 0, 2, 12, 1, 3, 7, 0, 4, 2];
    COUNTS[(i * 7 + 3) % COUNTS.len()]
}

fn ingested() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap()
}

/// Stores a funding award of STATE for `year`, implemented by `implementing`.
pub(crate) async fn award(
    db: &DatabaseConnection,
    number: &str,
    year: i32,
    implementing: Option<Agency>,
) -> i64 {
    let id = funding_award::ActiveModel {
        award_number: Set(number.into()),
        fiscal_year: Set(year),
        program: Set("Firearms Trafficking Capacity".into()),
        category: Set(FundingCategory::ForensicsTraining),
        implementing_agency: Set(implementing),
        recipient: Set("FGR".into()),
        obligated_cents: Set(12_345_600),
        disbursed_cents: Set(6_000_000),
        description: Set(None),
        owner_agency: Set(Agency::State),
        source_system: Set("attack".into()),
        ingested_at: Set(ingested()),
        version: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("award stored")
    .id;
    crate::fixtures::records_changed(db).await;
    id
}

/// Stores a training event of `provider` in fiscal year `year`.
pub(crate) async fn training(
    db: &DatabaseConnection,
    reference: &str,
    year: i32,
    course: CourseKind,
    provider: Agency,
) -> i64 {
    let id = training_event::ActiveModel {
        reference: Set(reference.into()),
        course: Set(course),
        provider: Set(provider),
        start_date: Set(date(year - 1, 11, 8)),
        end_date: Set(date(year - 1, 11, 10)),
        fiscal_year: Set(year),
        mexican_agency: Set("FGR".into()),
        mexican_state: Set(Some("MX-SON".into())),
        participants: Set(20),
        etrace_accounts_granted: Set(if course == CourseKind::Etrace { 8 } else { 0 }),
        funding_award_id: Set(None),
        owner_agency: Set(provider),
        source_system: Set("attack".into()),
        ingested_at: Set(ingested()),
        version: Set(1),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("training stored")
    .id;
    crate::fixtures::records_changed(db).await;
    id
}

/// Sets the calibre of a stored firearm.
pub(crate) async fn set_caliber(db: &DatabaseConnection, firearm: i64, caliber: &str) {
    db.execute_unprepared(&format!(
        "UPDATE firearm SET caliber = '{caliber}' WHERE id = {firearm}"
    ))
    .await
    .expect("calibre set");
    crate::fixtures::records_changed(db).await;
}

async fn seed_traces(db: &DatabaseConnection) {
    let mut n = 0;
    let mut i = 0;
    for state in ["MX-SON", "MX-TAM", "MX-NAY"] {
        for class in [
            SourceClass::UsManufactured,
            SourceClass::UsImported,
            SourceClass::Foreign,
        ] {
            for kind in [FirearmType::Pistol, FirearmType::Rifle] {
                for purchaser in [Some("Synthetic Purchaser"), None] {
                    for _ in 0..cell_count(i) {
                        n += 1;
                        let serial = format!("ATK-{n}");
                        let firearm =
                            fixtures::firearm(db, "Glock", kind, &serial, Agency::Atf).await;
                        fixtures::trace(
                            db,
                            &serial,
                            firearm,
                            state,
                            date(2019, 3, 1),
                            class,
                            purchaser,
                        )
                        .await;
                    }
                    i += 1;
                }
            }
        }
    }
    crate::fixtures::records_changed(db).await;
}

async fn seed_seizures(db: &DatabaseConnection) {
    let mut n = 0;
    let mut i = 0;
    for agency in [Agency::Cbp, Agency::Ice] {
        for state in ["AZ", "TX", "CA"] {
            for direction in [Direction::Outbound, Direction::Inbound] {
                for operation in ["Operation A", "Operation B"] {
                    for _ in 0..cell_count(i) {
                        n += 1;
                        seizure::ActiveModel {
                            case_number: Set(format!("ATK-S-{n}")),
                            seizing_agency: Set(agency),
                            operation: Set(Some(operation.into())),
                            seized_on: Set(date(2020, 2, 1)),
                            fiscal_year: Set(2020),
                            us_state: Set(state.into()),
                            port_of_entry: Set(Some("Nogales".into())),
                            direction: Set(direction),
                            concealment_method: Set(None),
                            ammunition_rounds: Set((n as i64 * 37) % 400),
                            firearm_count: Set(n % 5 + 1),
                            owner_agency: Set(agency),
                            source_system: Set("attack".into()),
                            ingested_at: Set(ingested()),
                            version: Set(1),
                            ..Default::default()
                        }
                        .insert(db)
                        .await
                        .expect("seizure stored");
                    }
                    i += 1;
                }
            }
        }
    }
    crate::fixtures::records_changed(db).await;
}

async fn seed_trainings(db: &DatabaseConnection) {
    let mut n = 0;
    let mut i = 0;
    for year in [2021, 2022] {
        for course in [CourseKind::Etrace, CourseKind::Forensics] {
            for provider in [Agency::Atf, Agency::State] {
                for state in [Some("MX-SON"), Some("MX-CHH"), None] {
                    for _ in 0..cell_count(i) {
                        n += 1;
                        let id = training(db, &format!("ATK-T-{n}"), year, course, provider).await;
                        let state = state.map_or("NULL".to_owned(), |s| format!("'{s}'"));
                        db.execute_unprepared(&format!(
                            "UPDATE training_event SET mexican_state = {state}, \
                             participants = {}, etrace_accounts_granted = {} WHERE id = {id}",
                            10 + n % 17,
                            if course == CourseKind::Etrace {
                                n % 6
                            } else {
                                0
                            }
                        ))
                        .await
                        .expect("training adjusted");
                    }
                    i += 1;
                }
            }
        }
    }
    crate::fixtures::records_changed(db).await;
}

async fn seed_funding(db: &DatabaseConnection) {
    let mut n = 0;
    let mut i = 0;
    for year in [2019, 2020, 2021] {
        for category in [
            FundingCategory::ForensicsTraining,
            FundingCategory::InspectionEquipment,
        ] {
            for implementing in [Some(Agency::Atf), None] {
                for program in ["Program A", "Program B"] {
                    for _ in 0..cell_count(i) {
                        n += 1;
                        let cents = 5_000_000 + (n as i64 * 7_919_113) % 90_000_000;
                        let id = award(db, &format!("ATK-F-{n}"), year, implementing).await;
                        db.execute_unprepared(&format!(
                            "UPDATE funding_award SET category = '{}', program = '{program}', \
                             obligated_cents = {cents}, disbursed_cents = {} WHERE id = {id}",
                            category.as_str(),
                            cents / (1 + n as i64 % 3)
                        ))
                        .await
                        .expect("award adjusted");
                    }
                    i += 1;
                }
            }
        }
    }
    crate::fixtures::records_changed(db).await;
}

#[tokio::test]
async fn an_integer_programming_attacker_pins_no_small_trace_cell() {
    let app = unthrottled().await;
    seed_traces(&app.db.db).await;
    attack_all(&app, &TRACES).await;
}

#[tokio::test]
async fn an_integer_programming_attacker_pins_no_small_seizure_cell_nor_its_sums() {
    let app = unthrottled().await;
    seed_seizures(&app.db.db).await;
    attack_all(&app, &SEIZURES).await;
}

#[tokio::test]
async fn an_integer_programming_attacker_pins_no_small_training_cell_nor_its_sums() {
    let app = unthrottled().await;
    seed_trainings(&app.db.db).await;
    attack_all(&app, &TRAININGS).await;
}

#[tokio::test]
async fn an_integer_programming_attacker_pins_no_small_funding_cell_nor_its_sums() {
    let app = unthrottled().await;
    seed_funding(&app.db.db).await;
    attack_all(&app, &FUNDING).await;
}
