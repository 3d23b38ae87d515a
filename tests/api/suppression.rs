//! Aggregate-only roles get numbers protected by the cell key method (`policy::suppression`): no
//! count of 1–4 is ever shown, the same cell always gets the same number, totals are cells of their
//! own, sums and medians are protected, filters must align with the grouping, and the three
//! concrete attacks learn nothing exact.

use std::collections::BTreeSet;

use entity::{Agency, CourseKind, FirearmType, Role, SourceClass};
use serde_json::{Value, json};

use crate::attack::{Target, attack, unthrottled};
use crate::fixtures::{self, date, trace_input};
use crate::helpers::{TestApp, error_codes, spawn_app, spawn_app_with_policy};

const THRESHOLD: i64 = 5;
const MAX_CHANGE: i64 = 5;

/// Traces by recovery state and source class; one small cell: MX-SON / FOREIGN = 2.
const TABLE: [(&str, SourceClass, usize); 6] = [
    ("MX-SON", SourceClass::UsManufactured, 10),
    ("MX-SON", SourceClass::UsImported, 8),
    ("MX-SON", SourceClass::Foreign, 2),
    ("MX-TAM", SourceClass::UsManufactured, 12),
    ("MX-TAM", SourceClass::UsImported, 9),
    ("MX-TAM", SourceClass::Foreign, 7),
];

async fn app() -> TestApp {
    let app = spawn_app().await;
    store_table(&app).await;
    app
}

/// Stores the traces of `TABLE`.
async fn store_table(app: &TestApp) {
    let mut n = 0;
    for (state, class, count) in TABLE {
        for _ in 0..count {
            n += 1;
            let firearm = fixtures::firearm(
                &app.db.db,
                "Glock",
                FirearmType::Pistol,
                &format!("S-{n}"),
                Agency::Atf,
            )
            .await;
            fixtures::trace(
                &app.db.db,
                &format!("S-{n}"),
                firearm,
                state,
                date(2019, 1, 1),
                class,
                None,
            )
            .await;
        }
    }
}

fn buckets(response: &Value, root: &str) -> Vec<Value> {
    response["data"][root]["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .clone()
}

fn true_count(state: &str, class: &str) -> i64 {
    TABLE
        .iter()
        .find(|(s, c, _)| *s == state && c.as_str() == class)
        .map_or(0, |(_, _, n)| *n as i64)
}

const BY_STATE_AND_CLASS: &str = "{ traceStats(groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { total suppressed buckets { key { recoveryState sourceClass } count suppressed } } }";

/// The tables whose records carry a record key.
const KEYED_TABLES: [&str; 4] = ["trace", "seizure", "training_event", "funding_award"];

/// A table's records, those with a key in range, and its distinct keys.
async fn record_keys(app: &TestApp, table: &str) -> (i64, i64, i64) {
    let count = |sql: String| async move { app.db.scalar(&sql).await };
    (
        count(format!("SELECT COUNT(*) FROM {table}")).await,
        count(format!(
            "SELECT COUNT(*) FROM {table} WHERE record_key >= 0 AND record_key < 4294967296"
        ))
        .await,
        count(format!("SELECT COUNT(DISTINCT record_key) FROM {table}")).await,
    )
}

#[tokio::test]
async fn aggregate_only_roles_get_protected_counts_and_exact_roles_exact_ones() {
    let app = app().await;
    let table = app
        .as_role(Role::Oversight)
        .query_ok(BY_STATE_AND_CLASS)
        .await;
    let stats = &table["data"]["traceStats"];
    assert_eq!(stats["suppressed"], true, "the answer says it is protected");
    let total = stats["total"].as_i64().expect("the total is shown");
    assert!((total - 48).abs() <= MAX_CHANGE, "{table}");
    let cells = buckets(&table, "traceStats");
    assert!(cells.len() >= 5, "only a small cell may vanish: {table}");
    for cell in &cells {
        let count = cell["count"].as_i64().expect("a listed cell has a count");
        let truth = true_count(
            cell["key"]["recoveryState"].as_str().unwrap(),
            cell["key"]["sourceClass"].as_str().unwrap(),
        );
        assert_eq!(cell["suppressed"], true, "{cell}");
        assert!(count >= THRESHOLD, "no count of 1 to 4 is shown: {cell}");
        assert!((count - truth).abs() <= MAX_CHANGE, "{cell} vs {truth}");
    }
    // The small cell of 2 is either left out or shown as at least the threshold, never as 2.
    if let Some(small) = cells
        .iter()
        .find(|b| b["key"]["recoveryState"] == "MX-SON" && b["key"]["sourceClass"] == "FOREIGN")
    {
        assert!(small["count"].as_i64().unwrap() >= THRESHOLD, "{small}");
    }

    // A role with row access sees exact numbers.
    let exact = app.as_role(Role::Atf).query_ok(BY_STATE_AND_CLASS).await;
    assert_eq!(exact["data"]["traceStats"]["total"], 48);
    assert_eq!(exact["data"]["traceStats"]["suppressed"], false);
    let exact_cells = buckets(&exact, "traceStats");
    assert_eq!(exact_cells.len(), TABLE.len(), "{exact}");
    for cell in exact_cells {
        let truth = true_count(
            cell["key"]["recoveryState"].as_str().unwrap(),
            cell["key"]["sourceClass"].as_str().unwrap(),
        );
        assert_eq!(cell["count"], truth, "{cell}");
        assert_eq!(cell["suppressed"], false);
    }
}

#[tokio::test]
async fn the_same_cell_gets_the_same_number_in_every_answer_for_every_role() {
    let app = app().await;
    let oversight = app.as_role(Role::Oversight);
    let table = oversight.query_ok(BY_STATE_AND_CLASS).await;
    // Asking again averages nothing away.
    assert_eq!(oversight.query_ok(BY_STATE_AND_CLASS).await, table);
    // Every aggregate-only role gets the same numbers.
    for role in [Role::Cbp, Role::State] {
        assert_eq!(
            app.as_role(role).query_ok(BY_STATE_AND_CLASS).await,
            table,
            "{role}"
        );
    }
    // A grouping that splits nothing (every trace is of 2019) gives the same cells.
    let with_year = oversight
        .query_ok("{ traceStats(groupBy: [RECOVERY_STATE, SOURCE_CLASS, YEAR]) { total buckets { key { recoveryState sourceClass } count } } }")
        .await;
    let pairs = |response: &Value| -> BTreeSet<String> {
        buckets(response, "traceStats")
            .iter()
            .map(|b| {
                format!(
                    "{}/{}={}",
                    b["key"]["recoveryState"], b["key"]["sourceClass"], b["count"]
                )
            })
            .collect()
    };
    assert_eq!(pairs(&with_year), pairs(&table));
    assert_eq!(
        with_year["data"]["traceStats"]["total"],
        table["data"]["traceStats"]["total"]
    );
    // Filtering on a grouped dimension selects the same cells with the same numbers; its total is
    // the state's records as a cell of their own, the same as the state's bucket by state alone.
    let filtered = oversight
        .query_ok("{ traceStats(filter: {recoveryState: [\"MX-TAM\"]}, groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { total buckets { key { recoveryState sourceClass } count } } }")
        .await;
    let tam: BTreeSet<String> = pairs(&table)
        .into_iter()
        .filter(|p| p.starts_with("\"MX-TAM\""))
        .collect();
    assert_eq!(pairs(&filtered), tam);
    let by_state = oversight
        .query_ok(
            "{ traceStats(groupBy: [RECOVERY_STATE]) { buckets { key { recoveryState } count } } }",
        )
        .await;
    let tam_bucket = buckets(&by_state, "traceStats")
        .into_iter()
        .find(|b| b["key"]["recoveryState"] == "MX-TAM")
        .expect("MX-TAM, 28 traces, is listed");
    assert_eq!(filtered["data"]["traceStats"]["total"], tam_bucket["count"]);
    let tam_count = tam_bucket["count"].as_i64().unwrap();
    assert!((tam_count - 28).abs() <= MAX_CHANGE, "{by_state}");
}

#[tokio::test]
async fn filters_of_aggregate_only_roles_must_constrain_grouped_dimensions() {
    let app = app().await;
    let oversight = app.as_role(Role::Oversight);
    for filter in [
        json!({ "year": { "min": 2019, "max": 2019 } }),
        json!({ "sourceClass": ["FOREIGN"] }),
        json!({ "recoveredBetween": { "from": "2019-01-01" } }),
    ] {
        let refused = oversight
            .query("query($f: TraceFilter) { traceStats(filter: $f, groupBy: [RECOVERY_STATE]) { total } }", json!({ "f": filter }))
            .await;
        assert_eq!(
            error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{filter}: {refused}"
        );
    }
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    for (role, query) in [
        (
            Role::State,
            "{ seizureStats(filter: {seizedBetween: {from: \"2016-01-01\"}}, groupBy: [SEIZING_AGENCY]) { total } }",
        ),
        (
            Role::Oversight,
            "{ trainingStats(filter: {course: [ETRACE]}, groupBy: [PROVIDER]) { total } }",
        ),
        (
            Role::Ice,
            "{ fundingStats(filter: {fiscalYear: {min: 2019}}, groupBy: [CATEGORY]) { total } }",
        ),
    ] {
        let refused = app.as_role(role).run(query).await;
        assert_eq!(
            error_codes(&refused),
            ["BAD_USER_INPUT"],
            "{query}: {refused}"
        );
    }
}

#[tokio::test]
async fn single_records_never_show_and_sums_of_listed_cells_are_protected() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    // The fixture holds two seizures, two trainings and two awards: every cell is one record.
    let checks = [
        (
            Role::State,
            "seizureStats",
            "{ seizureStats(groupBy: [SEIZING_AGENCY]) { total suppressed buckets { count firearms ammunitionRounds suppressed } } }",
            vec!["firearms", "ammunitionRounds"],
        ),
        (
            Role::Oversight,
            "trainingStats",
            "{ trainingStats(groupBy: [PROVIDER]) { total suppressed buckets { count participants etraceAccountsGranted suppressed } } }",
            vec!["participants", "etraceAccountsGranted"],
        ),
        (
            Role::Ice,
            "fundingStats",
            "{ fundingStats(groupBy: [IMPLEMENTING_AGENCY]) { total obligated suppressed buckets { count obligated disbursed suppressed } } }",
            vec!["obligated", "disbursed"],
        ),
    ];
    for (role, root, query, sums) in checks {
        let response = app.as_role(role).query_ok(query).await;
        let stats = &response["data"][root];
        assert_eq!(stats["suppressed"], true, "{response}");
        let total = stats["total"].as_i64().expect("total");
        assert!(
            total == 0 || (THRESHOLD..=2 + MAX_CHANGE).contains(&total),
            "{response}"
        );
        for bucket in buckets(&response, root) {
            assert!(bucket["count"].as_i64().unwrap() >= THRESHOLD, "{response}");
            assert_eq!(bucket["suppressed"], true);
            for sum in &sums {
                assert!(
                    !bucket[*sum].is_null(),
                    "a listed cell shows its protected {sum}"
                );
            }
        }
    }
}

#[tokio::test]
async fn medians_are_withheld_over_few_values_and_rounded_otherwise() {
    let app = spawn_app().await;
    // MX-COL: six traces, one with a time-to-crime. MX-DUR: twenty, all with one (published at
    // least 15, above the 10 a median needs).
    for (state, traces, with_purchaser) in [("MX-COL", 6, 1), ("MX-DUR", 20, 20)] {
        for n in 0..traces {
            let serial = format!("MED-{state}-{n}");
            let firearm =
                fixtures::firearm(&app.db.db, "Colt", FirearmType::Rifle, &serial, Agency::Atf)
                    .await;
            let purchaser = (n < with_purchaser).then_some("Synthetic Purchaser 0");
            fixtures::trace(
                &app.db.db,
                &serial,
                firearm,
                state,
                date(2019, 1, 1 + n as u32),
                SourceClass::UsManufactured,
                purchaser,
            )
            .await;
        }
    }
    let query = "{ traceStats(groupBy: [RECOVERY_STATE]) { buckets { key { recoveryState } count medianTimeToCrimeDays } } }";
    let median = |response: &Value, state: &str| -> Value {
        buckets(response, "traceStats")
            .into_iter()
            .find(|b| b["key"]["recoveryState"] == state)
            .map_or(Value::Null, |b| b["medianTimeToCrimeDays"].clone())
    };
    let atf = app.as_role(Role::Atf).query_ok(query).await;
    let exact = median(&atf, "MX-DUR").as_i64().expect("exact median");
    assert!(median(&atf, "MX-COL").is_number(), "{atf}");
    let state = app.as_role(Role::State).query_ok(query).await;
    assert!(
        median(&state, "MX-COL").is_null(),
        "one value: withheld: {state}"
    );
    let rounded = median(&state, "MX-DUR")
        .as_i64()
        .expect("twenty values: shown");
    assert_eq!(rounded % 10, 0, "rounded to 10 days: {state}");
    assert!((rounded - exact).abs() <= 5, "{rounded} vs {exact}");
}

#[tokio::test]
async fn the_perturbation_is_read_from_the_policy_file() {
    let policy = policy_with(&[
        ("suppression_threshold = 5 ", "suppression_threshold = 11 "),
        ("max_change = 5 ", "max_change = 12 "),
        ("variance = 4.0 ", "variance = 9.0 "),
    ]);
    let app = spawn_app_with_policy(&policy).await;
    store_table(&app).await;
    let table = app
        .as_role(Role::Oversight)
        .query_ok(BY_STATE_AND_CLASS)
        .await;
    for cell in buckets(&table, "traceStats") {
        let count = cell["count"].as_i64().unwrap();
        assert!(count >= 11, "the threshold of 11 holds: {table}");
        let truth = true_count(
            cell["key"]["recoveryState"].as_str().unwrap(),
            cell["key"]["sourceClass"].as_str().unwrap(),
        );
        assert!((count - truth).abs() <= 12, "{cell}");
    }
    // A role with exact aggregates is not affected.
    let exact = app
        .as_role(Role::Atf)
        .query_ok("{ traceStats(groupBy: [RECOVERY_STATE]) { total } }")
        .await;
    assert_eq!(exact["data"]["traceStats"]["total"], 48, "{exact}");
    // Every role is told the parameters its protected answers were made with.
    for role in [Role::Atf, Role::State, Role::Oversight] {
        let told = app
            .as_role(role)
            .query_ok(
                "{ disclosureControl { suppressionThreshold maxChange medianRounding sumNoise } }",
            )
            .await;
        assert_eq!(
            told["data"]["disclosureControl"],
            json!({ "suppressionThreshold": 11, "maxChange": 12, "medianRounding": 10, "sumNoise": 0.1 }),
            "{role:?}: {told}"
        );
    }

    // Settings that cannot hold are refused at load, naming the problem.
    for (edit, needle) in [
        (
            ("max_change = 5 ", "max_change = 2 "),
            "max_change (2) must be at least suppression_threshold (5)",
        ),
        (
            ("key_range = 4096 ", "key_range = 1000 "),
            "key_range must be a power of two",
        ),
        (
            ("sum_noise = 0.1 ", "sum_noise = 0.0 "),
            "sum_noise must be above 0",
        ),
        (("max_change = 5 ", "maximum_change = 5 "), "maximum_change"),
    ] {
        let error = firearms_hub::policy::Policy::parse(&policy_with(&[edit]))
            .expect_err("refused")
            .to_string();
        assert!(error.contains(needle), "{edit:?}: {error}");
    }
    // Without the table, the documented defaults apply.
    let without = firearms_hub::policy::DEFAULT_POLICY
        .lines()
        .filter(|line| {
            ![
                "[perturbation]",
                "max_change",
                "variance",
                "key_range",
                "sum_noise",
                "median_rounding",
            ]
            .iter()
            .any(|name| line.starts_with(name))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let defaults = firearms_hub::policy::Policy::parse(&without).expect("parses");
    assert_eq!(
        defaults.perturbation,
        firearms_hub::policy::Policy::default_policy().perturbation
    );
}

/// The default policy with each `(from, to)` text replaced once.
fn policy_with(edits: &[(&str, &str)]) -> String {
    let mut policy = firearms_hub::policy::DEFAULT_POLICY.to_owned();
    for (from, to) in edits {
        let edited = policy.replacen(from, to, 1);
        assert_ne!(edited, policy, "the edit {from:?} applies");
        policy = edited;
    }
    policy
}

#[tokio::test]
async fn every_insert_path_gives_records_a_random_key_that_is_never_shown() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let atf = app.as_role_with(Role::Atf, &["pii"]);
    let created = atf
        .query(
            "mutation($input: TraceInput!) { createTrace(input: $input) { id } }",
            json!({ "input": trace_input("T-KEY-1", "KEY-1") }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let imported = atf
        .query(
            "mutation($rows: [TraceInput!]!) { importTraces(rows: $rows) { accepted } }",
            json!({ "rows": [trace_input("T-KEY-2", "KEY-2"), trace_input("T-KEY-3", "KEY-3")] }),
        )
        .await;
    assert_eq!(
        imported["data"]["importTraces"]["accepted"], 2,
        "{imported}"
    );
    for table in KEYED_TABLES {
        let (rows, keyed, distinct) = record_keys(&app, table).await;
        assert!(rows >= 2, "{table}");
        assert_eq!(keyed, rows, "{table}: every record has a key in range");
        assert_eq!(distinct, rows, "{table}: keys are drawn at random");
    }
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM trace").await, 5);
    // The key is no field of any type, and no answer carries it.
    let schema = app
        .as_role(Role::Atf)
        .query_ok("{ __schema { types { name fields { name } } } }")
        .await
        .to_string()
        .to_lowercase();
    assert!(!schema.contains("recordkey") && !schema.contains("record_key"));
}

#[tokio::test]
async fn demo_data_records_get_random_keys() {
    let app = spawn_app().await;
    firearms_hub::demo::generate(
        &app.db.db,
        &firearms_hub::demo::DemoOptions {
            seed: firearms_hub::demo::DEFAULT_SEED,
            scale: 0.01,
            progress: false,
        },
    )
    .await
    .expect("demo data generated");
    for table in KEYED_TABLES {
        let (rows, keyed, distinct) = record_keys(&app, table).await;
        assert!(
            rows > 0 && keyed == rows,
            "{table}: {keyed} of {rows} keyed"
        );
        // 2^32 keys: a collision among a few thousand records is rare, many are impossible.
        assert!(
            distinct >= rows - 2,
            "{table}: {distinct} distinct keys of {rows}"
        );
    }
}

// ---- The concrete attacks, each now solved as an integer program over every grouping
// ---- of the dimensions it used, without pinning any cell.

#[tokio::test]
async fn ice_learns_no_funding_cell_from_two_groupings() {
    let app = unthrottled().await;
    // Awards implemented by nobody: two in each of FY2020–2024; ATF implements eight a year.
    let mut n = 0;
    for year in 2020..=2024 {
        for implementing in std::iter::repeat_n(Some(Agency::Atf), 8).chain([None, None]) {
            n += 1;
            crate::attack::award(&app.db.db, &format!("F1-{n}"), year, implementing).await;
        }
    }
    const FUNDING_BY_AGENCY: Target = Target {
        root: "fundingStats",
        dims: &[
            ("FISCAL_YEAR", "fiscalYear"),
            ("IMPLEMENTING_AGENCY", "implementingAgency"),
        ],
        sums: &[("obligated", 100_000), ("disbursed", 100_000)],
        attackers: &[Role::Ice, Role::Oversight],
        exact: Role::State,
    };
    assert_eq!(
        attack(&app, &FUNDING_BY_AGENCY).await,
        5,
        "the five cells of two awards"
    );
}

#[tokio::test]
async fn oversight_learns_no_training_cell_of_2021() {
    let app = unthrottled().await;
    // FY2021: ATF gave six eTrace and six forensics courses, STATE three forensics courses;
    // FY2022: ATF five eTrace courses, STATE six forensics courses.
    let mut n = 0;
    for (year, provider, course, count) in [
        (2021, Agency::Atf, CourseKind::Etrace, 6),
        (2021, Agency::Atf, CourseKind::Forensics, 6),
        (2021, Agency::State, CourseKind::Forensics, 3),
        (2022, Agency::Atf, CourseKind::Etrace, 5),
        (2022, Agency::State, CourseKind::Forensics, 6),
    ] {
        for _ in 0..count {
            n += 1;
            crate::attack::training(&app.db.db, &format!("F2-{n}"), year, course, provider).await;
        }
    }
    const TRAININGS_2021: Target = Target {
        root: "trainingStats",
        dims: &[
            ("FISCAL_YEAR", "fiscalYear"),
            ("COURSE", "course"),
            ("PROVIDER", "provider"),
        ],
        sums: &[("participants", 3), ("etraceAccountsGranted", 2)],
        attackers: &[Role::Oversight],
        exact: Role::Atf,
    };
    assert!(attack(&app, &TRAININGS_2021).await >= 1);
}

#[tokio::test]
async fn cbp_learns_no_trace_cell_of_mx_nay_from_three_groupings() {
    let app = unthrottled().await;
    // In MX-NAY: .380 is always a pistol; one .22 is of type OTHER.
    let mut n = 0;
    for (state, caliber, kind, count) in [
        ("MX-NAY", ".380", FirearmType::Pistol, 7),
        ("MX-NAY", ".22", FirearmType::Pistol, 6),
        ("MX-NAY", ".22", FirearmType::Other, 1),
        ("MX-NAY", "9mm", FirearmType::Pistol, 9),
        ("MX-NAY", "9mm", FirearmType::Rifle, 2),
        ("MX-SIN", "9mm", FirearmType::Rifle, 8),
        ("MX-SIN", ".22", FirearmType::Other, 6),
        ("MX-SIN", ".380", FirearmType::Pistol, 6),
    ] {
        for _ in 0..count {
            n += 1;
            let serial = format!("F3-{n}");
            let firearm = fixtures::firearm(&app.db.db, "Ruger", kind, &serial, Agency::Atf).await;
            crate::attack::set_caliber(&app.db.db, firearm, caliber).await;
            fixtures::trace(
                &app.db.db,
                &serial,
                firearm,
                state,
                date(2020, 5, 1),
                SourceClass::UsManufactured,
                None,
            )
            .await;
        }
    }
    const TRACES_BY_CALIBER: Target = Target {
        root: "traceStats",
        dims: &[
            ("RECOVERY_STATE", "recoveryState"),
            ("CALIBER", "caliber"),
            ("FIREARM_TYPE", "firearmType"),
        ],
        sums: &[],
        attackers: &[Role::Cbp],
        exact: Role::Atf,
    };
    assert!(attack(&app, &TRACES_BY_CALIBER).await >= 2);
}

#[tokio::test]
async fn the_migration_gives_existing_records_random_keys_and_rolls_back() {
    use migration::{Migrator, MigratorTrait};
    let app = spawn_app().await;
    let db = &app.db.db;
    // Records stored, then back to the schema before record keys (and every migration after
    // them): the records stay, without keys.
    fixtures::load(db).await;
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    let position = names
        .iter()
        .position(|n| n.ends_with("_record_keys"))
        .expect("the record keys migration");
    let steps = (names.len() - position) as u32;
    Migrator::down(db, Some(steps)).await.expect("rolls back");
    let has_key = match app.db.backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns \
             WHERE table_name = 'trace' AND column_name = 'record_key'"
        }
        _ => "SELECT COUNT(*) FROM pragma_table_info('trace') WHERE name = 'record_key'",
    };
    assert_eq!(app.db.scalar(has_key).await, 0, "the column is gone");
    Migrator::up(db, None).await.expect("migrates again");
    // Natural keys are unique per agency again after the down and up: ICE may use CBP's case
    // number.
    fixtures::seizure(db, "C-1", Agency::Ice, date(2021, 5, 2), &[]).await;
    // A record stored after the later migrations (which rebuild tables on SQLite) still gets a key.
    let firearm = fixtures::firearm(db, "Colt", FirearmType::Rifle, "K-NEW-1", Agency::Atf).await;
    let traced = fixtures::trace(
        db,
        "T-KEY-NEW",
        firearm,
        "MX-SON",
        date(2021, 5, 1),
        SourceClass::UsManufactured,
        None,
    )
    .await;
    assert!(
        app.db
            .scalar(&format!("SELECT record_key FROM trace WHERE id = {traced}"))
            .await
            >= 0,
        "a trace stored after migrating again has a key"
    );
    for table in KEYED_TABLES {
        let (rows, keyed, distinct) = record_keys(&app, table).await;
        assert!(
            rows >= 2 && keyed == rows && distinct == rows,
            "{table}: {keyed} keyed, {distinct} distinct keys of {rows}"
        );
    }
}

#[tokio::test]
async fn the_audit_trail_counts_the_buckets_published_not_the_true_groups() {
    let app = spawn_app().await;
    // Twelve single-trace states: most are perturbed to 0 and left out of the answer.
    for n in 0..12u32 {
        let serial = format!("ONE-{n}");
        let firearm =
            fixtures::firearm(&app.db.db, "Colt", FirearmType::Rifle, &serial, Agency::Atf).await;
        let state = format!("MX-Q{n:02}");
        fixtures::trace(
            &app.db.db,
            &serial,
            firearm,
            &state,
            date(2019, 1, 1 + n),
            SourceClass::UsManufactured,
            None,
        )
        .await;
    }
    let oversight = app.as_role(Role::Oversight);
    let answer = oversight
        .query_ok("query SingleTraceStates { traceStats(groupBy: [RECOVERY_STATE]) { buckets { count } } }")
        .await;
    let published = buckets(&answer, "traceStats").len();
    let trail = oversight
        .query_ok("{ auditEvents(first: 100) { nodes { operation rowsReturned } } }")
        .await;
    let recorded: Vec<i64> = trail["data"]["auditEvents"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|n| n["operation"] == "SingleTraceStates")
        .filter_map(|n| n["rowsReturned"].as_i64())
        .collect();
    assert_eq!(
        recorded,
        vec![published as i64],
        "the trail tells no more than the answer: {answer} {trail}"
    );
}
