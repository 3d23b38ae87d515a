//! The cross-agency analyses (`traceCorridors`, `trainingOutcomes`, `fundingOutcomes`): every
//! answer of a role with exact aggregates equals independent SQL, every part of an aggregate-only
//! role's answer is the very cell its `…Stats` query publishes (so differencing the analyses
//! against each other or against the stats learns nothing the stats do not tell), and a part the
//! role may not read at all is `null` with FORBIDDEN at its path.

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
    assert!(!seen_small.contains(&2));
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
    for o in state["data"]["fundingOutcomes"]["outcomes"]
        .as_array()
        .unwrap()
    {
        assert_eq!(o["trainings"]["suppressed"], false, "{o}");
        assert_eq!(o["traces"]["suppressed"], true, "{o}");
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
        assert_eq!(listed, cells, "{role:?}");
        for o in outcomes["outcomes"].as_array().unwrap() {
            assert!(o["awardNumber"].is_null(), "{o}");
            assert_eq!(o["trainings"]["suppressed"], true, "{o}");
            let count = o["trainings"]["count"].as_i64().unwrap();
            assert!(count == 0 || count >= THRESHOLD, "{role:?}: {o}");
        }
    }
}

#[tokio::test]
async fn a_small_count_of_funded_trainings_is_never_shown_to_an_aggregate_only_funding_role() {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    let db = &app.db.db;
    // Two cells of eight awards each: one funding 2 trainings in all, the other 12.
    let mut awards = Vec::new();
    for i in 0..16 {
        let (year, implementing) = if i < 8 {
            (2020, Some(Agency::Atf))
        } else {
            (2021, None)
        };
        awards.push(crate::attack::award(db, &format!("AN-{i}"), year, implementing).await);
    }
    let (small, large) = (awards[0], awards[8]);
    let mut n = 0;
    for (award, count) in [(small, 2), (large, 12)] {
        for _ in 0..count {
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
                "UPDATE training_event SET funding_award_id = {award} WHERE id = {id}"
            ))
            .await
            .expect("training funded");
        }
    }
    fixtures::records_changed(db).await;
    let query = "{ fundingOutcomes { outcomes { key { fiscalYear } trainings { count participants mexicanStates suppressed } } } }";
    // The same cells, asked again and with overlapping filters, always get the same numbers.
    let mut shown: HashMap<i64, BTreeSet<String>> = HashMap::new();
    for filter in [
        "",
        "(filter: { fiscalYear: { min: 2020 } })",
        "(filter: { fiscalYear: { min: 2020, max: 2020 } })",
        "(filter: { or: [{ fiscalYear: { max: 2020 } }, { category: [FORENSICS_TRAINING] }] })",
    ] {
        let query = query.replacen("fundingOutcomes", &format!("fundingOutcomes{filter}"), 1);
        for role in [Role::Ice, Role::Oversight] {
            let answer = app.as_role(role).query_ok(&query).await;
            for o in answer["data"]["fundingOutcomes"]["outcomes"]
                .as_array()
                .unwrap()
            {
                let t = &o["trainings"];
                let count = t["count"].as_i64().unwrap();
                assert!(count == 0 || count >= THRESHOLD, "{role:?} {filter}: {o}");
                assert_eq!(t["suppressed"], true);
                shown
                    .entry(o["key"]["fiscalYear"].as_i64().unwrap())
                    .or_default()
                    .insert(t.to_string());
            }
        }
    }
    assert_eq!(
        shown.len(),
        2,
        "both cells of eight awards are listed: {shown:?}"
    );
    for (year, answers) in &shown {
        assert_eq!(answers.len(), 1, "{year}: {answers:?}");
    }
    // A role with exact aggregates of both sees the truth.
    let exact = app.as_role(Role::State).query_ok(query).await;
    let counts: BTreeSet<i64> = exact["data"]["fundingOutcomes"]["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["trainings"]["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, BTreeSet::from([0, 2, 12]));
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
