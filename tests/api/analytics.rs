//! The cross-agency analyses (`traceCorridors`, `trainingOutcomes`, `fundingOutcomes`): every
//! answer of a role with exact aggregates equals independent SQL; the corridors, the training
//! outcomes and every trace part of an aggregate-only role's answer are the very cells its
//! `…Stats` query publishes (so differencing them across filters and windows learns nothing the
//! stats do not tell); the trainings of a cell of awards (`fundingOutcomes` for ICE and
//! OVERSIGHT) are protected cells of their own, checked to be within ±D of the truth, never
//! 1..threshold−1, the same under every filter, and consistent with their states and traces,
//! though perturbed independently of the `trainingStats` cells of the same trainings; per award,
//! the trainings are those the caller reads (its purpose decides); and a part the role may not
//! read at all is `null` with FORBIDDEN at its path.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use entity::{Agency, CourseKind, FirearmType, Role, SourceClass};
use firearms_hub::demo::{self, DemoOptions};
use sea_orm::{ConnectionTrait, QueryResult, Statement};
use serde_json::Value;

use crate::fixtures::{self, date};
use crate::helpers::{TestApp, error_codes, error_paths, spawn_app_with, spawn_app_with_policy};

const THRESHOLD: i64 = 5;

/// `(state, fiscal year) → (trainings, participants, accounts)`.
type TrainingCells = BTreeMap<(String, i64), (Option<i64>, Option<i64>, Option<i64>)>;
/// `award id → state → (trainings, participants, accounts)`.
type Funded = HashMap<i64, BTreeMap<Option<String>, (i64, i64, i64)>>;
const MAX_CHANGE: i64 = 5;

async fn demo_app() -> TestApp {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    demo::generate(
        &app.db.db,
        &DemoOptions {
            seed: 7,
            scale: 0.02,
            progress: false,
        },
    )
    .await
    .expect("demo data");
    app
}

async fn sql(app: &TestApp, sql: &str) -> Vec<QueryResult> {
    app.db
        .db
        .query_all_raw(Statement::from_string(app.db.backend(), sql.to_owned()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn text(row: &QueryResult, i: usize) -> Option<String> {
    row.try_get_by_index::<Option<String>>(i).expect("text")
}

fn int(row: &QueryResult, i: usize) -> i64 {
    row.try_get_by_index::<Option<i64>>(i)
        .expect("integer")
        .unwrap_or(0)
}

/// The median as the hub computes it: the mean of the two middle values, rounded half up.
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let (lo, hi) = (values[n.div_ceil(2) - 1], values[(n + 2) / 2 - 1]);
    Some((lo + hi + 1).div_euclid(2))
}

/// Traces by (recovery state, year), from the test's own SQL.
async fn trace_volumes(app: &TestApp) -> HashMap<(String, i64), i64> {
    sql(
        app,
        "SELECT recovery_state, CAST(recovery_year AS BIGINT), CAST(COUNT(*) AS BIGINT) \
         FROM trace GROUP BY recovery_state, recovery_year",
    )
    .await
    .iter()
    .map(|r| ((text(r, 0).unwrap(), int(r, 1)), int(r, 2)))
    .collect()
}

/// Traces by (recovery state, year) as `role`'s `traceStats` publishes them.
async fn published_volumes(app: &TestApp, role: Role) -> (HashMap<(String, i64), i64>, bool) {
    let answer = app
        .as_role(role)
        .query_ok(
            "{ traceStats(groupBy: [RECOVERY_STATE, YEAR]) { suppressed \
               buckets { key { recoveryState year } count } } }",
        )
        .await;
    let stats = &answer["data"]["traceStats"];
    let cells = stats["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                (
                    b["key"]["recoveryState"].as_str().unwrap().to_owned(),
                    b["key"]["year"].as_i64().unwrap(),
                ),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect();
    (cells, stats["suppressed"].as_bool().unwrap())
}

/// `(before, after)` of the window of `fiscal_year` over `states`, from cells by (state, year).
fn window(
    cells: &HashMap<(String, i64), i64>,
    states: &BTreeSet<String>,
    fiscal_year: i64,
    window: i64,
) -> (i64, i64) {
    let sum = |years: std::ops::RangeInclusive<i64>| -> i64 {
        states
            .iter()
            .flat_map(|s| years.clone().map(move |y| (s.clone(), y)))
            .filter_map(|k| cells.get(&k))
            .sum()
    };
    (
        sum(fiscal_year - 1 - window..=fiscal_year - 2),
        sum(fiscal_year + 1..=fiscal_year + window),
    )
}

const CORRIDORS: &str = "{ traceCorridors { suppressed corridors { purchaseState recoveryState year count medianTimeToCrimeDays suppressed } } }";

type CorridorKey = (String, String, i64);

fn corridor_cells(answer: &Value) -> Vec<(CorridorKey, i64, Option<i64>)> {
    answer["data"]["traceCorridors"]["corridors"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|c| {
            (
                (
                    c["purchaseState"].as_str().unwrap().to_owned(),
                    c["recoveryState"].as_str().unwrap().to_owned(),
                    c["year"].as_i64().unwrap(),
                ),
                c["count"].as_i64().unwrap(),
                c["medianTimeToCrimeDays"].as_i64(),
            )
        })
        .collect()
}

/// `traceStats` by the corridor dimensions as `role` reads it, known purchase states only.
async fn corridor_stats(app: &TestApp, role: Role) -> BTreeMap<CorridorKey, (i64, Option<i64>)> {
    let answer = app
        .as_role(role)
        .query_ok(
            "{ traceStats(groupBy: [PURCHASE_STATE, RECOVERY_STATE, YEAR]) { buckets { \
               key { purchaseState recoveryState year } count medianTimeToCrimeDays } } }",
        )
        .await;
    answer["data"]["traceStats"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["key"]["purchaseState"].is_null())
        .map(|b| {
            (
                (
                    b["key"]["purchaseState"].as_str().unwrap().to_owned(),
                    b["key"]["recoveryState"].as_str().unwrap().to_owned(),
                    b["key"]["year"].as_i64().unwrap(),
                ),
                (
                    b["count"].as_i64().unwrap(),
                    b["medianTimeToCrimeDays"].as_i64(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn corridors_equal_independent_sql_for_an_exact_role_and_the_trace_stats_cells_for_others() {
    let app = demo_app().await;
    // The oracle: every trace with a known purchase state, grouped in the test.
    let mut truth: BTreeMap<CorridorKey, (i64, Vec<i64>)> = BTreeMap::new();
    for r in sql(
        &app,
        "SELECT purchase_state, recovery_state, CAST(recovery_year AS BIGINT), \
         CAST(time_to_crime_days AS BIGINT) FROM trace WHERE purchase_state IS NOT NULL",
    )
    .await
    {
        let entry = truth
            .entry((text(&r, 0).unwrap(), text(&r, 1).unwrap(), int(&r, 2)))
            .or_default();
        entry.0 += 1;
        if let Some(ttc) = r.try_get_by_index::<Option<i64>>(3).unwrap() {
            entry.1.push(ttc);
        }
    }
    assert!(truth.len() > 20, "the demo data has corridors");
    let expected: BTreeMap<CorridorKey, (i64, Option<i64>)> = truth
        .into_iter()
        .map(|(k, (n, mut v))| (k, (n, median(&mut v))))
        .collect();

    for role in [Role::Atf, Role::Ice] {
        let answer = app.as_role(role).query_ok(CORRIDORS).await;
        assert_eq!(answer["data"]["traceCorridors"]["suppressed"], false);
        let cells = corridor_cells(&answer);
        let counts: Vec<i64> = cells.iter().map(|c| c.1).collect();
        assert!(
            counts.windows(2).all(|w| w[0] >= w[1]),
            "largest first: {counts:?}"
        );
        let got: BTreeMap<CorridorKey, (i64, Option<i64>)> =
            cells.into_iter().map(|(k, n, m)| (k, (n, m))).collect();
        assert_eq!(got, expected, "{role:?}");
    }

    // Aggregate-only roles: exactly the protected cells traceStats publishes, nothing recomputed.
    for role in [Role::Cbp, Role::State, Role::Oversight] {
        let answer = app.as_role(role).query_ok(CORRIDORS).await;
        assert_eq!(answer["data"]["traceCorridors"]["suppressed"], true);
        let got: BTreeMap<CorridorKey, (i64, Option<i64>)> = corridor_cells(&answer)
            .into_iter()
            .map(|(k, n, m)| (k, (n, m)))
            .collect();
        for (key, (count, _)) in &got {
            assert!(*count >= THRESHOLD, "{role:?} {key:?}: {count}");
            let true_count = expected.get(key).map_or(0, |e| e.0);
            assert!((count - true_count).abs() <= MAX_CHANGE, "{key:?}");
        }
        assert_eq!(got, corridor_stats(&app, role).await, "{role:?}");
        assert_ne!(
            got.iter()
                .map(|(k, v)| (k.clone(), v.0))
                .collect::<Vec<_>>(),
            expected
                .iter()
                .map(|(k, v)| (k.clone(), v.0))
                .collect::<Vec<_>>(),
            "{role:?} is given protected counts"
        );
    }
}

/// Seeds traces whose corridors include small ones: TX → MX-SON in 2019 has 2 traces.
async fn seed_small_corridors(app: &TestApp) {
    let table: [(&str, &str, i32, usize); 6] = [
        ("TX", "MX-SON", 2019, 2),
        ("TX", "MX-SON", 2020, 14),
        ("AZ", "MX-SON", 2019, 11),
        ("TX", "MX-TAM", 2019, 9),
        ("AZ", "MX-TAM", 2019, 3),
        ("CA", "MX-TAM", 2020, 12),
    ];
    let mut n = 0;
    for (purchase, recovery, year, count) in table {
        for _ in 0..count {
            n += 1;
            let serial = format!("COR-{n}");
            let firearm = fixtures::firearm(
                &app.db.db,
                "Glock",
                FirearmType::Pistol,
                &serial,
                Agency::Atf,
            )
            .await;
            let id = fixtures::trace(
                &app.db.db,
                &serial,
                firearm,
                recovery,
                date(year, 3, 1),
                SourceClass::UsManufactured,
                None,
            )
            .await;
            app.db
                .db
                .execute_unprepared(&format!(
                    "UPDATE trace SET purchase_state = '{purchase}', time_to_crime_days = {} WHERE id = {id}",
                    100 + n * 13
                ))
                .await
                .expect("trace adjusted");
        }
    }
    fixtures::records_changed(&app.db.db).await;
}

#[tokio::test]
async fn corridor_filters_and_differences_never_reveal_a_small_corridor() {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    seed_small_corridors(&app).await;
    let small = ("TX".to_owned(), "MX-SON".to_owned(), 2019);
    // The truth, as an exact role reads it.
    let exact = app.as_role(Role::Atf).query_ok(CORRIDORS).await;
    let exact_small = corridor_cells(&exact)
        .into_iter()
        .find(|c| c.0 == small)
        .expect("an exact role sees the small corridor");
    assert_eq!(exact_small.1, 2);

    let unfiltered = corridor_cells(&app.as_role(Role::State).query_ok(CORRIDORS).await);
    let stats = corridor_stats(&app, Role::State).await;
    // Overlapping and nested filters, each answered as the same protected cells: subtracting
    // one answer from another gives only differences of published cells.
    let filters = [
        "recoveryState: [\"MX-SON\"]",
        "recoveryState: [\"MX-SON\", \"MX-TAM\"]",
        "purchaseState: [\"TX\"]",
        "purchaseState: [\"TX\"], year: { min: 2019, max: 2019 }",
        "year: { min: 2019 }, recoveryState: [\"MX-SON\"], purchaseState: [\"TX\", \"AZ\"]",
    ];
    let mut seen_small = BTreeSet::new();
    for filter in filters {
        let query = format!(
            "{{ traceCorridors({filter}) {{ corridors {{ purchaseState recoveryState year count medianTimeToCrimeDays }} }} }}"
        );
        let answer = app.as_role(Role::State).query_ok(&query).await;
        for (key, count, median) in corridor_cells(&answer) {
            assert!(count >= THRESHOLD, "{filter}: {key:?} shows {count}");
            assert_eq!(
                stats.get(&key),
                Some(&(count, median)),
                "{filter}: {key:?} is not the traceStats cell"
            );
            let whole = unfiltered.iter().find(|c| c.0 == key).expect("listed");
            assert_eq!((whole.1, whole.2), (count, median), "{filter}: {key:?}");
            if key == small {
                seen_small.insert(count);
            }
        }
    }
    assert!(
        seen_small.len() <= 1,
        "the small corridor got different values: {seen_small:?}"
    );
    // The median of a small corridor is never shown.
    for (key, count, median) in &unfiltered {
        if *count < THRESHOLD + MAX_CHANGE {
            assert_eq!(*median, None, "{key:?}");
        }
    }
    // A minimum count filters on the published count only.
    let answer = app
        .as_role(Role::State)
        .query_ok("{ traceCorridors(minCount: 10) { corridors { count } } }")
        .await;
    let shown: Vec<i64> = corridor_cells_counts(&answer);
    let expected: Vec<i64> = unfiltered
        .iter()
        .map(|c| c.1)
        .filter(|n| *n >= 10)
        .collect();
    assert_eq!(shown, expected);
}

fn corridor_cells_counts(answer: &Value) -> Vec<i64> {
    answer["data"]["traceCorridors"]["corridors"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .collect()
}

const TRAINING_OUTCOMES: &str = "{ trainingOutcomes(window: 2) { window outcomes { mexicanState fiscalYear \
    trainings { count participants etraceAccountsGranted mexicanStates suppressed } \
    traces { before { firstYear lastYear count } after { firstYear lastYear count } suppressed } } } }";

/// `(state, fiscal year) → (trainings, participants, accounts, before, after, traces suppressed)`.
type Outcomes = BTreeMap<(String, i64), (Option<i64>, Option<i64>, Option<i64>, i64, i64, bool)>;

fn training_outcomes(answer: &Value) -> Outcomes {
    answer["data"]["trainingOutcomes"]["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|o| {
            let fy = o["fiscalYear"].as_i64().unwrap();
            let traces = &o["traces"];
            assert_eq!(traces["before"]["firstYear"], fy - 3, "{o}");
            assert_eq!(traces["before"]["lastYear"], fy - 2, "{o}");
            assert_eq!(traces["after"]["firstYear"], fy + 1, "{o}");
            assert_eq!(traces["after"]["lastYear"], fy + 2, "{o}");
            (
                (o["mexicanState"].as_str().unwrap().to_owned(), fy),
                (
                    o["trainings"]["count"].as_i64(),
                    o["trainings"]["participants"].as_i64(),
                    o["trainings"]["etraceAccountsGranted"].as_i64(),
                    traces["before"]["count"].as_i64().unwrap(),
                    traces["after"]["count"].as_i64().unwrap(),
                    traces["suppressed"].as_bool().unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn training_outcomes_equal_independent_sql_and_state_sees_traces_only_protected() {
    let app = demo_app().await;
    let volumes = trace_volumes(&app).await;
    let trainings = sql(
        &app,
        "SELECT mexican_state, CAST(fiscal_year AS BIGINT), CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(participants) AS BIGINT), CAST(SUM(etrace_accounts_granted) AS BIGINT) \
         FROM training_event WHERE mexican_state IS NOT NULL GROUP BY mexican_state, fiscal_year",
    )
    .await;
    assert!(trainings.len() > 5, "the demo data has trainings in states");
    let expected = |cells: &HashMap<(String, i64), i64>, suppressed: bool| -> Outcomes {
        trainings
            .iter()
            .map(|r| {
                let state = text(r, 0).unwrap();
                let fy = int(r, 1);
                let (before, after) = window(cells, &BTreeSet::from([state.clone()]), fy, 2);
                (
                    (state, fy),
                    (
                        Some(int(r, 2)),
                        Some(int(r, 3)),
                        Some(int(r, 4)),
                        before,
                        after,
                        suppressed,
                    ),
                )
            })
            .collect()
    };
    // Exact roles: everything equals the SQL.
    let atf = training_outcomes(&app.as_role(Role::Atf).query_ok(TRAINING_OUTCOMES).await);
    assert_eq!(atf, expected(&volumes, false));
    assert!(atf.values().any(|o| o.3 > 0 && o.4 > 0), "{atf:?}");

    // STATE: its exact training numbers beside trace volumes only as traceStats publishes them.
    let (published, suppressed) = published_volumes(&app, Role::State).await;
    assert!(suppressed);
    let state = training_outcomes(&app.as_role(Role::State).query_ok(TRAINING_OUTCOMES).await);
    assert_eq!(state, expected(&published, true));
    assert_ne!(published, volumes, "STATE's trace cells are protected");

    // OVERSIGHT: trainings protected too, as trainingStats publishes them.
    let oversight = app
        .as_role(Role::Oversight)
        .query_ok(TRAINING_OUTCOMES)
        .await;
    let stats = app
        .as_role(Role::Oversight)
        .query_ok(
            "{ trainingStats(groupBy: [MEXICAN_STATE, FISCAL_YEAR]) { buckets { \
               key { mexicanState fiscalYear } count participants etraceAccountsGranted } } }",
        )
        .await;
    let cells: TrainingCells = stats["data"]["trainingStats"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["key"]["mexicanState"].is_null())
        .map(|b| {
            (
                (
                    b["key"]["mexicanState"].as_str().unwrap().to_owned(),
                    b["key"]["fiscalYear"].as_i64().unwrap(),
                ),
                (
                    b["count"].as_i64(),
                    b["participants"].as_i64(),
                    b["etraceAccountsGranted"].as_i64(),
                ),
            )
        })
        .collect();
    let got: TrainingCells = training_outcomes(&oversight)
        .into_iter()
        .map(|(k, v)| (k, (v.0, v.1, v.2)))
        .collect();
    assert_eq!(got, cells);
    for o in oversight["data"]["trainingOutcomes"]["outcomes"]
        .as_array()
        .unwrap()
    {
        assert_eq!(o["trainings"]["suppressed"], true, "{o}");
    }

    // A window out of range is refused, naming the argument.
    let refused = app
        .as_role(Role::Atf)
        .run("{ trainingOutcomes(window: 0) { window } }")
        .await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");
    assert!(refused.to_string().contains("window"), "{refused}");
}

const FUNDING_OUTCOMES: &str = "{ fundingOutcomes { window byAward suppressed outcomes { awardNumber \
    key { fiscalYear category implementingAgency program } awards \
    trainings { count participants etraceAccountsGranted mexicanStates suppressed } \
    traces { before { count } after { count } suppressed } } } }";

/// The trainings of each award by state: `award id → state → (count, participants, accounts)`.
async fn funded(app: &TestApp) -> Funded {
    let mut out: Funded = HashMap::new();
    for r in sql(
        app,
        "SELECT funding_award_id, mexican_state, CAST(COUNT(*) AS BIGINT), \
         CAST(SUM(participants) AS BIGINT), CAST(SUM(etrace_accounts_granted) AS BIGINT) \
         FROM training_event WHERE funding_award_id IS NOT NULL \
         GROUP BY funding_award_id, mexican_state",
    )
    .await
    {
        out.entry(int(&r, 0))
            .or_default()
            .insert(text(&r, 1), (int(&r, 2), int(&r, 3), int(&r, 4)));
    }
    out
}

/// `award number → (trainings, participants, accounts, states, before, after)`.
type AwardOutcomes = BTreeMap<String, (i64, i64, i64, BTreeSet<String>, i64, i64)>;

/// The outcome of every award (those `implementing` implements, when given), from the test's own
/// SQL, with traces counted from `cells` and a window of 1.
async fn expected_awards(
    app: &TestApp,
    funded: &Funded,
    implementing: Option<&str>,
    cells: &HashMap<(String, i64), i64>,
) -> AwardOutcomes {
    let filter = implementing.map_or(String::new(), |a| {
        format!(" WHERE implementing_agency = '{a}'")
    });
    let awards = sql(
        app,
        &format!("SELECT id, award_number, CAST(fiscal_year AS BIGINT) FROM funding_award{filter}"),
    )
    .await;
    let mut out = BTreeMap::new();
    for a in awards {
        let by_state = funded.get(&int(&a, 0)).cloned().unwrap_or_default();
        let states: BTreeSet<String> = by_state.keys().flatten().cloned().collect();
        let (before, after) = window(cells, &states, int(&a, 2), 1);
        let total = by_state
            .values()
            .fold((0, 0, 0), |t, v| (t.0 + v.0, t.1 + v.1, t.2 + v.2));
        out.insert(
            text(&a, 1).unwrap(),
            (total.0, total.1, total.2, states, before, after),
        );
    }
    out
}

#[tokio::test]
async fn funding_outcomes_equal_independent_sql_per_award_and_follow_each_roles_access() {
    let app = demo_app().await;
    let volumes = trace_volumes(&app).await;
    let funded = funded(&app).await;
    assert!(!funded.is_empty(), "the demo data funds trainings");
    let read = |answer: &Value| -> AwardOutcomes {
        let mut out = BTreeMap::new();
        for o in answer["data"]["fundingOutcomes"]["outcomes"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
        {
            let t = &o["trainings"];
            out.insert(
                o["awardNumber"]
                    .as_str()
                    .expect("an award number")
                    .to_owned(),
                (
                    t["count"].as_i64().unwrap(),
                    t["participants"].as_i64().unwrap(),
                    t["etraceAccountsGranted"].as_i64().unwrap(),
                    t["mexicanStates"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap().to_owned())
                        .collect::<BTreeSet<String>>(),
                    o["traces"]["before"]["count"].as_i64().unwrap(),
                    o["traces"]["after"]["count"].as_i64().unwrap(),
                ),
            );
        }
        out
    };

    // ATF reads the awards it implements, with exact trainings and traces.
    let atf = app.as_role(Role::Atf).query_ok(FUNDING_OUTCOMES).await;
    assert_eq!(atf["data"]["fundingOutcomes"]["byAward"], true);
    let got = read(&atf);
    assert_eq!(
        got,
        expected_awards(&app, &funded, Some("ATF"), &volumes).await
    );
    assert!(got.values().any(|o| o.0 > 0 && o.5 > 0), "{got:?}");

    // STATE reads every award and its trainings exactly, traces only as protected cells.
    let state = app.as_role(Role::State).query_ok(FUNDING_OUTCOMES).await;
    let (published, _) = published_volumes(&app, Role::State).await;
    assert_eq!(
        read(&state),
        expected_awards(&app, &funded, None, &published).await
    );
    // The truth of each cell of awards, from STATE's exact per-award answer (checked above):
    // `key → (trainings, states)`.
    let mut truth: HashMap<String, (i64, BTreeSet<String>)> = HashMap::new();
    for o in state["data"]["fundingOutcomes"]["outcomes"]
        .as_array()
        .unwrap()
    {
        assert_eq!(o["trainings"]["suppressed"], false, "{o}");
        assert_eq!(o["traces"]["suppressed"], true, "{o}");
        let entry = truth.entry(o["key"].to_string()).or_default();
        entry.0 += o["trainings"]["count"].as_i64().unwrap();
        for s in o["trainings"]["mexicanStates"].as_array().unwrap() {
            entry.1.insert(s.as_str().unwrap().to_owned());
        }
    }

    // CBP reads no funding at all: refused, and not in its schema.
    let cbp = app.as_role(Role::Cbp).run(FUNDING_OUTCOMES).await;
    assert_eq!(error_codes(&cbp), ["FORBIDDEN"], "{cbp}");
    assert!(cbp["data"].is_null(), "{cbp}");
    let introspection = app
        .as_role(Role::Cbp)
        .query_ok("{ __type(name: \"Query\") { fields { name } } }")
        .await
        .to_string();
    assert!(
        !introspection.contains("fundingOutcomes"),
        "{introspection}"
    );
    assert!(
        introspection.contains("trainingOutcomes"),
        "{introspection}"
    );
    assert!(introspection.contains("traceCorridors"), "{introspection}");

    // ICE and OVERSIGHT read funding only as aggregates: cells of awards, never an award number,
    // the awards' counts exactly as fundingStats publishes them, trainings protected.
    for role in [Role::Ice, Role::Oversight] {
        let answer = app.as_role(role).query_ok(FUNDING_OUTCOMES).await;
        let outcomes = &answer["data"]["fundingOutcomes"];
        assert_eq!(outcomes["byAward"], false, "{role:?}");
        assert_eq!(outcomes["suppressed"], true, "{role:?}");
        let stats = app
            .as_role(role)
            .query_ok(
                "{ fundingStats(groupBy: [FISCAL_YEAR, CATEGORY, IMPLEMENTING_AGENCY, PROGRAM]) { \
                   buckets { key { fiscalYear category implementingAgency program } count } } }",
            )
            .await;
        let cells: Vec<(Value, Value)> = stats["data"]["fundingStats"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].clone(), b["count"].clone()))
            .collect();
        let listed: Vec<(Value, Value)> = outcomes["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["key"].clone(), o["awards"].clone()))
            .collect();
        let as_set = |v: &[(Value, Value)]| -> BTreeSet<String> {
            v.iter().map(|(k, n)| format!("{k} {n}")).collect()
        };
        assert_eq!(as_set(&listed), as_set(&cells), "{role:?}");
        assert_eq!(listed.len(), cells.len(), "{role:?}");
        // Ordered by the cell's dimensions: fiscal year, category, implementing agency (none
        // first), program.
        let order: Vec<(i64, String, Option<String>, String)> = listed
            .iter()
            .map(|(k, _)| {
                (
                    k["fiscalYear"].as_i64().unwrap(),
                    k["category"].as_str().unwrap().to_owned(),
                    k["implementingAgency"].as_str().map(str::to_owned),
                    k["program"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{role:?}: {order:?}");
        let (role_volumes, _) = published_volumes(&app, role).await;
        for o in outcomes["outcomes"].as_array().unwrap() {
            assert!(o["awardNumber"].is_null(), "{o}");
            let t = &o["trainings"];
            assert_eq!(t["suppressed"], true, "{o}");
            let count = t["count"].as_i64().unwrap();
            assert!(!(1..THRESHOLD).contains(&count), "{role:?}: {o}");
            let (true_count, true_states) = truth
                .get(&o["key"].to_string())
                .cloned()
                .unwrap_or_default();
            assert!(
                (count - true_count).abs() <= MAX_CHANGE,
                "{role:?}: {o} (truth {true_count})"
            );
            let states: BTreeSet<String> = t["mexicanStates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect();
            assert!(states.is_subset(&true_states), "{role:?}: {o}");
            check_funding_consistency(o, &role_volumes);
        }
        // A filter selecting one year gives the same outcomes for its cells.
        let year = listed[0].0["fiscalYear"].as_i64().unwrap();
        let query = FUNDING_OUTCOMES.replacen(
            "fundingOutcomes",
            &format!("fundingOutcomes(filter: {{ fiscalYear: {{ min: {year}, max: {year} }} }})"),
            1,
        );
        let filtered = app.as_role(role).query_ok(&query).await;
        let whole: Vec<&Value> = outcomes["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["key"]["fiscalYear"] == year)
            .collect();
        let part: Vec<&Value> = filtered["data"]["fundingOutcomes"]["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(part, whole, "{role:?} {year}");
    }
}

/// A funding outcome of protected trainings never contradicts itself: a count of 0 lists no
/// state, and trainings with no published state have no trace counts (`null`, marked
/// suppressed) rather than zeros; otherwise the traces are the window over the listed states
/// of the role's published trace cells (window 1).
fn check_funding_consistency(o: &Value, volumes: &HashMap<(String, i64), i64>) {
    let t = &o["trainings"];
    if t["suppressed"] != true {
        return;
    }
    let count = t["count"].as_i64().unwrap();
    let states: BTreeSet<String> = t["mexicanStates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    if count == 0 {
        assert!(states.is_empty(), "{o}");
    }
    let traces = &o["traces"];
    assert_eq!(traces["suppressed"], true, "{o}");
    if states.is_empty() {
        assert!(traces["before"]["count"].is_null(), "{o}");
        assert!(traces["after"]["count"].is_null(), "{o}");
    } else {
        let fy = o["key"]["fiscalYear"].as_i64().unwrap();
        let (before, after) = window(volumes, &states, fy, 1);
        assert_eq!(traces["before"]["count"], before, "{o}");
        assert_eq!(traces["after"]["count"], after, "{o}");
    }
}

#[tokio::test]
async fn a_small_count_of_funded_trainings_is_never_shown_to_an_aggregate_only_funding_role() {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    let db = &app.db.db;
    // Three cells of eight awards each: 2020 forensics by ATF funding 2 trainings in all (the
    // small one), 2021 forensics by no agency funding 12, 2020 eTrace outreach by ATF funding 7.
    let cells: [(i32, Option<Agency>, &str, i64); 3] = [
        (2020, Some(Agency::Atf), "FORENSICS_TRAINING", 2),
        (2021, None, "FORENSICS_TRAINING", 12),
        (2020, Some(Agency::Atf), "ETRACE_OUTREACH", 7),
    ];
    let mut n = 0;
    for (c, (year, implementing, category, trainings)) in cells.into_iter().enumerate() {
        let mut first = None;
        for i in 0..8 {
            let award = crate::attack::award(db, &format!("AN-{c}-{i}"), year, implementing).await;
            db.execute_unprepared(&format!(
                "UPDATE funding_award SET category = '{category}' WHERE id = {award}"
            ))
            .await
            .expect("award categorised");
            first.get_or_insert(award);
        }
        for _ in 0..trainings {
            n += 1;
            let id = crate::attack::training(
                db,
                &format!("AN-T-{n}"),
                2021,
                CourseKind::Etrace,
                Agency::Atf,
            )
            .await;
            db.execute_unprepared(&format!(
                "UPDATE training_event SET funding_award_id = {} WHERE id = {id}",
                first.unwrap()
            ))
            .await
            .expect("training funded");
        }
    }
    fixtures::records_changed(db).await;
    let query = "{ fundingOutcomes { outcomes { key { fiscalYear category implementingAgency program } \
        trainings { count participants etraceAccountsGranted mexicanStates suppressed } \
        traces { before { count } after { count } suppressed } } } }";
    let outcomes = |answer: &Value| -> BTreeMap<String, Value> {
        answer["data"]["fundingOutcomes"]["outcomes"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|o| (o["key"].to_string(), o.clone()))
            .collect()
    };
    // Filters selecting the small cell with different neighbours (and one without it): each
    // cell's outcome is the same in every answer, so subtracting one answer's sum from
    // another's gives only published cells.
    let filters = [
        "(filter: { fiscalYear: { min: 2020, max: 2020 } })",
        "(filter: { category: [FORENSICS_TRAINING] })",
        "(filter: { implementingAgency: [ATF] })",
        "(filter: { not: { category: [FORENSICS_TRAINING] } })",
        "(filter: { or: [{ fiscalYear: { min: 2021 } }, { category: [ETRACE_OUTREACH] }] })",
    ];
    for role in [Role::Ice, Role::Oversight] {
        let (volumes, _) = published_volumes(&app, role).await;
        let whole = outcomes(&app.as_role(role).query_ok(query).await);
        assert_eq!(
            whole.len(),
            3,
            "{role:?}: every cell of eight awards is listed"
        );
        for o in whole.values() {
            let t = &o["trainings"];
            assert_eq!(t["suppressed"], true, "{o}");
            let count = t["count"].as_i64().unwrap();
            assert!(!(1..THRESHOLD).contains(&count), "{role:?}: {o}");
            check_funding_consistency(o, &volumes);
        }
        for filter in filters {
            let query = query.replacen("fundingOutcomes", &format!("fundingOutcomes{filter}"), 1);
            let part = outcomes(&app.as_role(role).query_ok(&query).await);
            assert!(!part.is_empty(), "{role:?} {filter}");
            for (key, o) in &part {
                assert_eq!(Some(o), whole.get(key), "{role:?} {filter}");
            }
        }
    }
    // A role with exact aggregates of both sees the truth.
    let exact = app.as_role(Role::State).query_ok(query).await;
    let counts: BTreeSet<i64> = exact["data"]["fundingOutcomes"]["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["trainings"]["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, BTreeSet::from([0, 2, 7, 12]));
}

#[tokio::test]
async fn a_part_the_role_reads_no_aggregates_of_is_null_with_forbidden_at_its_path() {
    // STATE without trace aggregates: trainings still answered, traces refused where they are.
    let policy = firearms_hub::policy::DEFAULT_POLICY.replace(
        "[roles.STATE.trace]\nrows = \"none\"\naggregates = \"suppressed\"",
        "[roles.STATE.trace]\nrows = \"none\"\naggregates = \"none\"",
    );
    assert_ne!(policy, firearms_hub::policy::DEFAULT_POLICY);
    let app = spawn_app_with_policy(&policy).await;
    let db = &app.db.db;
    let award = crate::attack::award(db, "AN-9", 2020, None).await;
    let id = crate::attack::training(db, "AN-T-9", 2021, CourseKind::Etrace, Agency::State).await;
    db.execute_unprepared(&format!(
        "UPDATE training_event SET funding_award_id = {award} WHERE id = {id}"
    ))
    .await
    .expect("training funded");
    fixtures::records_changed(db).await;
    let state = app.as_role(Role::State);
    let answer = state
        .run("{ trainingOutcomes { outcomes { mexicanState trainings { count } traces { after { count } } } } }")
        .await;
    let outcome = &answer["data"]["trainingOutcomes"]["outcomes"][0];
    assert_eq!(outcome["mexicanState"], "MX-SON", "{answer}");
    assert_eq!(outcome["trainings"]["count"], 1, "{answer}");
    assert!(outcome["traces"].is_null(), "{answer}");
    assert_eq!(error_codes(&answer), ["FORBIDDEN"], "{answer}");
    assert_eq!(
        error_paths(&answer),
        ["trainingOutcomes.outcomes.0.traces"],
        "{answer}"
    );
    let answer = state
        .run("{ fundingOutcomes { outcomes { awardNumber trainings { count } traces { after { count } } } } }")
        .await;
    let outcome = &answer["data"]["fundingOutcomes"]["outcomes"][0];
    assert_eq!(outcome["awardNumber"], "AN-9", "{answer}");
    assert_eq!(outcome["trainings"]["count"], 1, "{answer}");
    assert!(outcome["traces"].is_null(), "{answer}");
    assert_eq!(
        error_paths(&answer),
        ["fundingOutcomes.outcomes.0.traces"],
        "{answer}"
    );
    // Corridors read traces alone: refused, and gone from the role's schema.
    let answer = state
        .run("{ traceCorridors { corridors { count } } }")
        .await;
    assert_eq!(error_codes(&answer), ["FORBIDDEN"], "{answer}");
    let introspection = state
        .query_ok("{ __type(name: \"Query\") { fields { name } } }")
        .await
        .to_string();
    assert!(!introspection.contains("traceCorridors"), "{introspection}");
    assert!(
        introspection.contains("trainingOutcomes"),
        "{introspection}"
    );
}

#[tokio::test]
async fn funding_outcomes_per_award_count_only_the_trainings_the_caller_reads() {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    let db = &app.db.db;
    // STATE owns the award and reads it without a purpose; one of its two trainings is ATF's.
    let award = crate::attack::award(db, "AN-P", 2020, Some(Agency::Atf)).await;
    let atf = crate::attack::training(db, "AN-P-1", 2021, CourseKind::Etrace, Agency::Atf).await;
    let own = crate::attack::training(db, "AN-P-2", 2021, CourseKind::Etrace, Agency::State).await;
    db.execute_unprepared(&format!(
        "UPDATE training_event SET funding_award_id = {award} WHERE id IN ({atf}, {own})"
    ))
    .await
    .expect("trainings funded");
    db.execute_unprepared(&format!(
        "UPDATE training_event SET mexican_state = 'MX-JAL' WHERE id = {own}"
    ))
    .await
    .expect("training moved");
    fixtures::records_changed(db).await;
    let query = "{ fundingOutcomes { outcomes { awardNumber \
        trainings { count participants etraceAccountsGranted mexicanStates suppressed } } } }";
    let trainings = |answer: &Value| answer["data"]["fundingOutcomes"]["outcomes"][0].clone();

    // With a purpose: both trainings, exactly.
    let with = app.as_role(Role::State).query_ok(query).await;
    let outcome = trainings(&with);
    assert_eq!(outcome["awardNumber"], "AN-P", "{with}");
    assert_eq!(
        outcome["trainings"],
        serde_json::json!({ "count": 2, "participants": 40, "etraceAccountsGranted": 16,
            "mexicanStates": ["MX-JAL", "MX-SON"], "suppressed": false }),
        "{with}"
    );

    // Without one: only its own training, as the award's `trainings` edge gives them, and the rows
    // left out are reported as every read reports them.
    let without = app.as_role(Role::State).without_purpose();
    let answer = without.run(query).await;
    assert_eq!(
        trainings(&answer)["trainings"],
        serde_json::json!({ "count": 1, "participants": 20, "etraceAccountsGranted": 8,
            "mexicanStates": ["MX-JAL"], "suppressed": false }),
        "{answer}"
    );
    assert_eq!(error_codes(&answer), ["FORBIDDEN"], "{answer}");
    assert!(answer.to_string().contains("purpose"), "{answer}");
    let edge = without
        .run("{ fundingAwards { nodes { awardNumber trainings { reference } } } }")
        .await;
    assert_eq!(
        edge["data"]["fundingAwards"]["nodes"][0]["trainings"],
        serde_json::json!([{ "reference": "AN-P-2" }]),
        "{edge}"
    );
}

/// Seeds trainings and traces whose cells include small ones: 2 trainings in MX-SON in fiscal
/// year 2020, and 2 traces recovered in MX-SON in each of 2017 and 2022 (the years a window of 2
/// adds to a window of 1 around FY2020).
async fn seed_small_outcomes(app: &TestApp) {
    let db = &app.db.db;
    let mut n = 0;
    for (state, fiscal_year, count) in [
        ("MX-SON", 2020, 2),
        ("MX-SON", 2021, 12),
        ("MX-TAM", 2020, 9),
    ] {
        for _ in 0..count {
            n += 1;
            let id = crate::attack::training(
                db,
                &format!("OUT-T-{n}"),
                fiscal_year,
                CourseKind::Etrace,
                Agency::Atf,
            )
            .await;
            db.execute_unprepared(&format!(
                "UPDATE training_event SET mexican_state = '{state}' WHERE id = {id}"
            ))
            .await
            .expect("training placed");
        }
    }
    let traces = [
        ("MX-SON", 2017, 2),
        ("MX-SON", 2018, 11),
        ("MX-SON", 2021, 13),
        ("MX-SON", 2022, 2),
        ("MX-TAM", 2018, 3),
        ("MX-TAM", 2021, 8),
        ("MX-TAM", 2022, 12),
    ];
    for (state, year, count) in traces {
        for _ in 0..count {
            n += 1;
            let serial = format!("OUT-{n}");
            let firearm =
                fixtures::firearm(db, "Glock", FirearmType::Pistol, &serial, Agency::Atf).await;
            fixtures::trace(
                db,
                &serial,
                firearm,
                state,
                date(year, 5, 1),
                SourceClass::UsManufactured,
                None,
            )
            .await;
        }
    }
    fixtures::records_changed(db).await;
}

/// `(state, fiscal year) → (trainings, traces before, traces after)`.
type OutcomeRows = BTreeMap<(String, i64), (Value, i64, i64)>;

async fn outcome_rows(app: &TestApp, role: Role, filter: &str, window: i32) -> OutcomeRows {
    let query = format!(
        "{{ trainingOutcomes({filter} window: {window}) {{ outcomes {{ mexicanState fiscalYear \
           trainings {{ count participants etraceAccountsGranted suppressed }} \
           traces {{ before {{ count }} after {{ count }} }} }} }} }}"
    );
    let answer = app.as_role(role).query_ok(&query).await;
    answer["data"]["trainingOutcomes"]["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .map(|o| {
            (
                (
                    o["mexicanState"].as_str().unwrap().to_owned(),
                    o["fiscalYear"].as_i64().unwrap(),
                ),
                (
                    o["trainings"].clone(),
                    o["traces"]["before"]["count"].as_i64().unwrap(),
                    o["traces"]["after"]["count"].as_i64().unwrap(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn training_outcome_filters_and_windows_never_reveal_a_small_count() {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    seed_small_outcomes(&app).await;
    let small = ("MX-SON".to_owned(), 2020);
    // Overlapping filters on both dimensions, selecting the small cell with different neighbours:
    // subtracting one answer from another must give only published cells.
    let filters = [
        "mexicanState: [\"MX-SON\"],",
        "mexicanState: [\"MX-SON\", \"MX-TAM\"], fiscalYear: { min: 2020, max: 2020 },",
        "fiscalYear: { max: 2020 },",
        "fiscalYear: { min: 2020 }, mexicanState: [\"MX-TAM\"],",
        "fiscalYear: { min: 2021 },",
    ];
    for role in [Role::State, Role::Oversight] {
        let (published, suppressed) = published_volumes(&app, role).await;
        assert!(suppressed, "{role:?} reads traces protected");
        let cell = |state: &str, year: i64| {
            published
                .get(&(state.to_owned(), year))
                .copied()
                .unwrap_or(0)
        };
        let one = outcome_rows(&app, role, "", 1).await;
        let two = outcome_rows(&app, role, "", 2).await;
        for filter in filters {
            for (window, whole) in [(1, &one), (2, &two)] {
                let answer = outcome_rows(&app, role, filter, window).await;
                assert!(!answer.is_empty(), "{role:?} {filter}");
                for (key, row) in &answer {
                    assert_eq!(
                        Some(row),
                        whole.get(key),
                        "{role:?} {filter} {window}: {key:?}"
                    );
                }
            }
        }
        // Widening the window by a year adds exactly that year's published trace cell, never a
        // small count: after(2) − after(1) is the cell of FY+2, before(2) − before(1) that of FY−3.
        assert_eq!(
            one.keys().collect::<Vec<_>>(),
            two.keys().collect::<Vec<_>>()
        );
        for ((state, fy), (_, before, after)) in &one {
            let (_, wide_before, wide_after) = &two[&(state.clone(), *fy)];
            assert_eq!(
                wide_after - after,
                cell(state, fy + 2),
                "{role:?} {state} {fy}"
            );
            assert_eq!(
                wide_before - before,
                cell(state, fy - 3),
                "{role:?} {state} {fy}"
            );
            for added in [wide_after - after, wide_before - before] {
                assert!(
                    !(1..THRESHOLD).contains(&added),
                    "{role:?} {state} {fy}: {added}"
                );
            }
        }
        // The small trainings cell: STATE reads trainings exactly; OVERSIGHT only as a protected
        // cell, left out or shown as THRESHOLD or more.
        for ((state, fy), (trainings, _, _)) in &one {
            let count = trainings["count"].as_i64().unwrap();
            match role {
                Role::State => assert_eq!(trainings["suppressed"], false),
                _ => {
                    assert_eq!(trainings["suppressed"], true);
                    assert!(count >= THRESHOLD, "{state} {fy}: {count}");
                }
            }
        }
        if role == Role::State {
            assert_eq!(one[&small].0["count"], 2);
        }
    }
}

#[tokio::test]
async fn a_role_reading_awards_but_no_training_rows_gets_each_awards_trainings_protected() {
    let policy = firearms_hub::policy::DEFAULT_POLICY.replace(
        "[roles.STATE.training]\nrows = \"all\"\naggregates = \"exact\"",
        "[roles.STATE.training]\nrows = \"none\"\naggregates = \"exact\"",
    );
    assert_ne!(policy, firearms_hub::policy::DEFAULT_POLICY);
    let app = spawn_app_with_policy(&policy).await;
    let db = &app.db.db;
    let mut n = 0;
    for (number, trainings) in [("AN-S", 2), ("AN-L", 12)] {
        let award = crate::attack::award(db, number, 2020, None).await;
        for _ in 0..trainings {
            n += 1;
            let id = crate::attack::training(
                db,
                &format!("AN-R-{n}"),
                2021,
                CourseKind::Etrace,
                Agency::State,
            )
            .await;
            db.execute_unprepared(&format!(
                "UPDATE training_event SET funding_award_id = {award} WHERE id = {id}"
            ))
            .await
            .expect("training funded");
        }
    }
    fixtures::records_changed(db).await;
    let answer = app.as_role(Role::State).query_ok(FUNDING_OUTCOMES).await;
    let outcomes = answer["data"]["fundingOutcomes"]["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(answer["data"]["fundingOutcomes"]["byAward"], true);
    let (volumes, _) = published_volumes(&app, Role::State).await;
    let mut numbers = Vec::new();
    for o in outcomes {
        numbers.push(o["awardNumber"].as_str().unwrap().to_owned());
        let t = &o["trainings"];
        assert_eq!(t["suppressed"], true, "{o}");
        let count = t["count"].as_i64().unwrap();
        assert!(!(1..THRESHOLD).contains(&count), "{o}");
        let truth = if o["awardNumber"] == "AN-S" { 2 } else { 12 };
        assert!((count - truth).abs() <= MAX_CHANGE, "{o}");
        check_funding_consistency(o, &volumes);
    }
    // Ordered by fiscal year, then award number.
    assert_eq!(numbers, ["AN-L", "AN-S"]);
}
