//! Aggregate-only roles get counts with small cells withheld, and cannot recover a withheld count
//! from the answer itself nor by the documented differencing attacks (see `policy::suppression`).

use entity::{Agency, FirearmType, Role, SourceClass};
use serde_json::{Value, json};

use crate::fixtures::{self, date};
use crate::helpers::{TestApp, error_codes, spawn_app, spawn_app_with_policy};

const THRESHOLD: i64 = 5;

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

#[tokio::test]
async fn a_small_cell_is_withheld_with_complements_in_its_row_and_column_and_the_total() {
    let app = app().await;
    let oversight = app.as_role(Role::Oversight);
    let table = oversight.query_ok("{ traceStats(groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { total suppressed buckets { key { recoveryState sourceClass } count suppressed } } }").await;
    assert!(
        table["data"]["traceStats"]["total"].is_null(),
        "the total would give away the withheld cells"
    );
    let cells = buckets(&table, "traceStats");
    assert_eq!(
        cells.len(),
        TABLE.len(),
        "one cell per state and class: {table}"
    );
    let held = |b: &&Value| b["suppressed"] == true;
    let small = cells
        .iter()
        .find(|b| b["key"]["recoveryState"] == "MX-SON" && b["key"]["sourceClass"] == "FOREIGN")
        .expect("cell");
    assert!(small["count"].is_null() && small["suppressed"] == true);
    let row: Vec<&Value> = cells
        .iter()
        .filter(|b| b["key"]["recoveryState"] == "MX-SON")
        .filter(held)
        .collect();
    let column: Vec<&Value> = cells
        .iter()
        .filter(|b| b["key"]["sourceClass"] == "FOREIGN")
        .filter(held)
        .collect();
    assert!(row.len() >= 2 && column.len() >= 2, "{cells:?}");

    // The same roles with row access see exact numbers.
    let exact = app.as_role(Role::Atf).run("{ traceStats(groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { total buckets { count suppressed } } }").await;
    assert_eq!(exact["data"]["traceStats"]["total"], 48);
    let exact_cells = buckets(&exact, "traceStats");
    assert_eq!(exact_cells.len(), TABLE.len(), "{exact}");
    assert!(
        exact_cells
            .iter()
            .all(|b| b["suppressed"] == false && b["count"].is_number()),
        "{exact}"
    );
}

#[tokio::test]
async fn subtracting_a_separately_asked_total_recovers_no_withheld_cell() {
    let app = app().await;
    let oversight = app.as_role(Role::Oversight);
    let table = oversight
        .run("{ traceStats(groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { buckets { key { recoveryState sourceClass } count } } }")
        .await;
    assert_eq!(buckets(&table, "traceStats").len(), TABLE.len(), "{table}");
    // Attack: one state's total, asked separately, minus the cells of its row that are shown.
    let mut attacked = 0;
    for (state, _, _) in TABLE.iter().step_by(3) {
        let marginal = oversight
            .query("query($s: [String!]) { traceStats(filter: {recoveryState: $s}, groupBy: [RECOVERY_STATE]) { buckets { count } } }", json!({ "s": [state] }))
            .await;
        assert!(marginal["errors"].is_null(), "{marginal}");
        assert_eq!(buckets(&marginal, "traceStats").len(), 1, "{marginal}");
        // A state's total (20 and 28) is not small: the attacker gets it.
        let state_total = marginal["data"]["traceStats"]["buckets"][0]["count"]
            .as_i64()
            .unwrap_or_else(|| panic!("{state}: the marginal is shown: {marginal}"));
        let cells: Vec<Value> = buckets(&table, "traceStats")
            .into_iter()
            .filter(|b| b["key"]["recoveryState"] == *state)
            .collect();
        assert_eq!(cells.len(), 3, "{state}: one cell per class");
        let shown: i64 = cells.iter().filter_map(|b| b["count"].as_i64()).sum();
        let withheld = cells.iter().filter(|b| b["count"].is_null()).count();
        let remainder = state_total - shown;
        if *state == "MX-SON" {
            assert!(
                withheld > 0,
                "the small cell's row withholds cells: {cells:?}"
            );
        }
        if withheld > 0 {
            attacked += 1;
            assert!(
                withheld >= 2,
                "{state}: a single withheld cell would equal the remainder"
            );
            assert!(
                remainder >= THRESHOLD,
                "{state}: the remainder {remainder} is not itself small"
            );
            assert_ne!(
                remainder, 2,
                "{state}: the small cell's true count is not what the attack yields"
            );
        }
    }
    assert!(attacked >= 1, "the attack met a row with withheld cells");
    // Attack: the same question over two ranges (or with and without a class), subtracted.
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
    // Filtering on a grouped dimension selects cells of the same table, withheld the same way.
    let filtered = oversight
        .run("{ traceStats(filter: {recoveryState: [\"MX-SON\"]}, groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { total buckets { key { sourceClass } count } } }")
        .await;
    assert!(filtered["data"]["traceStats"]["total"].is_null());
    let filtered_cells = buckets(&filtered, "traceStats");
    assert_eq!(
        filtered_cells.len(),
        3,
        "MX-SON's three classes: {filtered}"
    );
    for cell in filtered_cells {
        let same = buckets(&table, "traceStats")
            .into_iter()
            .find(|b| {
                b["key"]["recoveryState"] == "MX-SON"
                    && b["key"]["sourceClass"] == cell["key"]["sourceClass"]
            })
            .expect("cell of the table");
        assert_eq!(cell["count"], same["count"], "{cell} vs {same}");
    }
}

#[tokio::test]
async fn seizure_training_and_funding_stats_withhold_small_cells_the_same_way() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    // The fixture holds two seizures, two trainings and two awards: every cell is small.
    let state = app.as_role(Role::State);
    let seizures = state.run("{ seizureStats(groupBy: [SEIZING_AGENCY]) { total suppressed buckets { count firearms ammunitionRounds suppressed } } }").await;
    assert!(
        seizures["data"]["seizureStats"]["total"].is_null(),
        "{seizures}"
    );
    let seizure_cells = buckets(&seizures, "seizureStats");
    assert_eq!(seizure_cells.len(), 2, "CBP and ICE: {seizures}");
    for b in seizure_cells {
        assert!(b["count"].is_null() && b["firearms"].is_null() && b["ammunitionRounds"].is_null());
    }
    let oversight = app.as_role(Role::Oversight);
    let trainings = oversight.run("{ trainingStats(groupBy: [PROVIDER]) { total buckets { count participants suppressed } } }").await;
    assert_eq!(
        buckets(&trainings, "trainingStats").len(),
        2,
        "ATF and STATE: {trainings}"
    );
    assert!(
        buckets(&trainings, "trainingStats")
            .iter()
            .all(|b| b["participants"].is_null() && b["suppressed"] == true),
        "{trainings}"
    );
    let funding = app.as_role(Role::Ice).run("{ fundingStats(groupBy: [IMPLEMENTING_AGENCY]) { total obligated buckets { obligated suppressed } } }").await;
    assert!(
        funding["data"]["fundingStats"]["obligated"].is_null(),
        "{funding}"
    );
    assert_eq!(
        buckets(&funding, "fundingStats").len(),
        2,
        "ATF and no implementing agency: {funding}"
    );
    assert!(
        buckets(&funding, "fundingStats")
            .iter()
            .all(|b| b["obligated"].is_null()),
        "{funding}"
    );
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
async fn a_median_over_fewer_values_than_the_threshold_is_withheld() {
    let app = spawn_app().await;
    // Six traces in one state; only one has a time-to-crime, so its median would be that value.
    for n in 0..6 {
        let firearm = fixtures::firearm(
            &app.db.db,
            "Colt",
            FirearmType::Rifle,
            &format!("MED-{n}"),
            Agency::Atf,
        )
        .await;
        let purchaser = (n == 0).then_some("Synthetic Purchaser 0");
        fixtures::trace(
            &app.db.db,
            &format!("MED-{n}"),
            firearm,
            "MX-COL",
            date(2019, 1, 1),
            SourceClass::UsManufactured,
            purchaser,
        )
        .await;
    }
    let query =
        "{ traceStats(groupBy: [RECOVERY_STATE]) { buckets { count medianTimeToCrimeDays } } }";
    let state = app.as_role(Role::State).run(query).await;
    assert_eq!(
        state["data"]["traceStats"]["buckets"][0],
        json!({ "count": 6, "medianTimeToCrimeDays": null }),
        "{state}"
    );
    let atf = app.as_role(Role::Atf).run(query).await;
    assert!(
        atf["data"]["traceStats"]["buckets"][0]["medianTimeToCrimeDays"].is_number(),
        "{atf}"
    );
}

/// The table's cells as OVERSIGHT (aggregate-only) sees them: (state, class) -> count or null.
async fn oversight_cells(app: &TestApp) -> (Value, Vec<Value>) {
    let table = app
        .as_role(Role::Oversight).query_ok("{ traceStats(groupBy: [RECOVERY_STATE, SOURCE_CLASS]) { total suppressed buckets { key { recoveryState sourceClass } count suppressed } } }").await;
    let cells = buckets(&table, "traceStats");
    assert_eq!(cells.len(), TABLE.len(), "{table}");
    (table["data"]["traceStats"].clone(), cells)
}

fn cell<'a>(cells: &'a [Value], state: &str, class: &str) -> &'a Value {
    cells
        .iter()
        .find(|b| b["key"]["recoveryState"] == state && b["key"]["sourceClass"] == class)
        .unwrap_or_else(|| panic!("no cell {state} / {class} in {cells:?}"))
}

#[tokio::test]
async fn the_suppression_threshold_is_read_from_the_policy_file() {
    let policy = |threshold: i64| {
        let edited = firearms_hub::policy::DEFAULT_POLICY.replace(
            "suppression_threshold = 5\n",
            &format!("suppression_threshold = {threshold}\n"),
        );
        assert_ne!(
            edited,
            firearms_hub::policy::DEFAULT_POLICY,
            "the edit applies"
        );
        edited
    };

    // The default threshold of 5 withholds the cell of 2 and shows the cell of 10.
    let default = app().await;
    let (_, cells) = oversight_cells(&default).await;
    assert!(
        cell(&cells, "MX-SON", "FOREIGN")["count"].is_null(),
        "{cells:?}"
    );
    assert_eq!(cell(&cells, "MX-SON", "US_MANUFACTURED")["count"], 10);

    // A threshold of 2: no cell is smaller, so nothing is withheld, not even the total.
    let low = spawn_app_with_policy(&policy(2)).await;
    store_table(&low).await;
    let (answer, cells) = oversight_cells(&low).await;
    assert_eq!(answer["total"], 48, "{answer}");
    assert_eq!(answer["suppressed"], false, "{answer}");
    assert_eq!(cell(&cells, "MX-SON", "FOREIGN")["count"], 2, "{answer}");
    assert!(cells.iter().all(|b| b["suppressed"] == false), "{answer}");

    // A threshold of 11: the cell of 10 is small now.
    let high = spawn_app_with_policy(&policy(11)).await;
    store_table(&high).await;
    let (answer, cells) = oversight_cells(&high).await;
    let ten = cell(&cells, "MX-SON", "US_MANUFACTURED");
    assert!(
        ten["count"].is_null() && ten["suppressed"] == true,
        "{answer}"
    );
    assert!(answer["total"].is_null(), "{answer}");
    // A role with exact aggregates is not affected by the threshold.
    let exact = high
        .as_role(Role::Atf)
        .run("{ traceStats(groupBy: [RECOVERY_STATE]) { total } }")
        .await;
    assert_eq!(exact["data"]["traceStats"]["total"], 48, "{exact}");
}
