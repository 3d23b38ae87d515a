//! Performance measures: every metric of the catalogue equals what independent SQL computes over the
//! demo data, for every fiscal year of each measure's period (an exact role); a role without
//! aggregate access to an input gets `null` with FORBIDDEN at `value`; a suppressed role gets only
//! numbers the `…Stats` queries publish to it (a cell, or the sum of the cells a metric's condition
//! spans), and FORBIDDEN for a parameter that is no stats dimension; matching seized firearms to
//! traces follows the `firearmLink` rule; only the owner agency and oversight create, change and
//! retire measures, each change versioned, audited and bumping the records generation.

use std::collections::BTreeMap;

use entity::Role;
use firearms_hub::demo::{self, DemoOptions};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, error_codes, error_paths, spawn_app_with};

fn unthrottled(settings: &mut firearms_hub::config::Settings) {
    settings.limits.rate_per_second = 0.0;
}

async fn demo_app() -> TestApp {
    let app = spawn_app_with(unthrottled).await;
    demo::generate(
        &app.db.db,
        &DemoOptions {
            seed: demo::DEFAULT_SEED,
            scale: 0.02,
            progress: false,
        },
    )
    .await
    .expect("demo data");
    app
}

const MEASURES: &str = "{ performanceMeasures { code ownerAgency version \
    metric { name unit parameters { name value } } baseline target periodStart periodEnd asOf \
    actuals { fiscalYear value numerator denominator suppressed status } } }";

/// Measures oversight adds so that every metric of the catalogue, and most parameters, are
/// computed: (code, owner, metric, parameters).
type Extra = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

fn extra_measures() -> Vec<Extra> {
    vec![
        ("T-SUBMITTED", "ATF", "traces_submitted", vec![]),
        (
            "T-SUBMITTED-FGR-SON",
            "ATF",
            "traces_submitted",
            vec![("requestingAgency", "FGR"), ("recoveryState", "MX-SON")],
        ),
        (
            "T-PURCHASER-JAL",
            "ATF",
            "traces_to_purchaser_per_mille",
            vec![("recoveryState", "MX-JAL")],
        ),
        ("T-US-ORIGIN", "ATF", "us_origin_per_mille", vec![]),
        ("T-TTC", "ATF", "median_time_to_crime_days", vec![]),
        (
            "T-TTC-SON",
            "ATF",
            "median_time_to_crime_days",
            vec![("recoveryState", "MX-SON")],
        ),
        (
            "S-SEIZED-CBP-OUT",
            "CBP",
            "firearms_seized",
            vec![("seizingAgency", "CBP"), ("direction", "OUTBOUND")],
        ),
        (
            "S-SEIZED-PORT",
            "CBP",
            "firearms_seized",
            vec![("portOfEntry", "Laredo")],
        ),
        (
            "S-SOUTHBOUND-ICE",
            "ICE",
            "southbound_firearms_seized",
            vec![("seizingAgency", "ICE")],
        ),
        ("S-SOUTHBOUND", "ICE", "southbound_firearms_seized", vec![]),
        (
            "S-MATCHED",
            "ICE",
            "seized_firearms_matched_to_traces",
            vec![],
        ),
        (
            "S-CBP-PORT",
            "CBP",
            "cbp_outbound_firearms",
            vec![("portOfEntry", "Nogales")],
        ),
        ("TR-DELIVERED", "STATE", "trainings_delivered", vec![]),
        (
            "TR-DELIVERED-ATF-ETRACE",
            "ATF",
            "trainings_delivered",
            vec![("provider", "ATF"), ("course", "ETRACE")],
        ),
        (
            "TR-OFFICIALS-FORENSICS",
            "STATE",
            "officials_trained",
            vec![("course", "FORENSICS")],
        ),
        (
            "TR-ACCOUNTS-UNFUNDED",
            "ATF",
            "etrace_accounts_granted",
            vec![("funded", "false")],
        ),
        ("F-OBLIGATED", "STATE", "funding_obligated", vec![]),
        (
            "F-DISBURSED-ATF",
            "STATE",
            "funding_disbursed",
            vec![("implementingAgency", "ATF")],
        ),
        (
            "F-PER-MILLE-CANINES",
            "STATE",
            "funding_disbursed_per_mille",
            vec![("category", "CANINES")],
        ),
    ]
}

async fn create_as_oversight(
    app: &TestApp,
    code: &str,
    owner: &str,
    metric: &str,
    params: &[(&str, &str)],
) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    app.as_role(Role::Oversight)
        .query(
            "mutation($input: PerformanceMeasureInput!) { \
               createPerformanceMeasure(input: $input) { code version } }",
            json!({
                "input": {
                    "code": code, "ownerAgency": owner,
                    "goal": "Test goal", "indicator": format!("Indicator of {metric}"),
                    "metric": metric, "parameters": parameters,
                    "baseline": 10, "target": 20,
                    "periodStart": "2018-10-01", "periodEnd": "2024-09-30"
                }
            }),
        )
        .await
}

fn fy_bounds(fy: i32) -> (String, String) {
    (format!("'{}-10-01'", fy - 1), format!("'{fy}-09-30'"))
}

fn per_mille(n: i64, d: i64) -> Option<i64> {
    (d > 0).then(|| (2000 * n + d).div_euclid(2 * d))
}

/// `AND column = 'value'` for each parameter given.
fn and_params(params: &BTreeMap<String, String>, columns: &[(&str, &str)]) -> String {
    let mut sql = String::new();
    for (name, column) in columns {
        if let Some(v) = params.get(*name) {
            sql.push_str(&format!(" AND {column} = '{}'", v.replace('\'', "''")));
        }
    }
    sql
}

async fn sum(db: &TestDb, expr: &str, from_where: &str) -> i64 {
    db.scalar(&format!(
        "SELECT CAST(COALESCE(SUM({expr}), 0) AS BIGINT) FROM {from_where}"
    ))
    .await
}

/// (value, numerator, denominator) of `metric` for fiscal year `fy`, in independent SQL.
async fn oracle(
    db: &TestDb,
    metric: &str,
    params: &BTreeMap<String, String>,
    fy: i32,
) -> (Option<i64>, Option<i64>, Option<i64>) {
    let (start, end) = fy_bounds(fy);
    let traces = format!(
        "trace WHERE recovery_date >= {start} AND recovery_date <= {end}{}",
        and_params(
            params,
            &[
                ("recoveryState", "recovery_state"),
                ("requestingAgency", "requesting_agency")
            ]
        )
    );
    let seizures = format!(
        "seizure WHERE fiscal_year = {fy}{}",
        and_params(
            params,
            &[
                ("seizingAgency", "seizing_agency"),
                ("direction", "direction"),
                ("portOfEntry", "port_of_entry"),
                ("operation", "operation"),
            ]
        )
    );
    let training_params = and_params(params, &[("provider", "provider"), ("course", "course")])
        + match params.get("funded").map(String::as_str) {
            Some("true") => " AND funding_award_id IS NOT NULL",
            Some("false") => " AND funding_award_id IS NULL",
            _ => "",
        };
    let awards = format!(
        "funding_award WHERE fiscal_year = {fy}{}",
        and_params(
            params,
            &[
                ("category", "category"),
                ("implementingAgency", "implementing_agency")
            ]
        )
    );
    let one = |v: i64| (Some(v), None, None);
    match metric {
        "etrace_state_agencies" => one(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM agency WHERE kind = 'MX_STATE' AND etrace_access_since <= {end}"
            ))
            .await,
        ),
        "traces_submitted" => one(db.scalar(&format!("SELECT COUNT(*) FROM {traces}")).await),
        "traces_to_purchaser_per_mille" | "us_origin_per_mille" => {
            let part = if metric == "us_origin_per_mille" {
                "source_class IN ('US_MANUFACTURED', 'US_IMPORTED')"
            } else {
                "status = 'COMPLETED'"
            };
            let n = db
                .scalar(&format!("SELECT COUNT(*) FROM {traces} AND {part}"))
                .await;
            let d = db.scalar(&format!("SELECT COUNT(*) FROM {traces}")).await;
            (per_mille(n, d), Some(n), Some(d))
        }
        "median_time_to_crime_days" => {
            let n = db
                .scalar(&format!(
                    "SELECT COUNT(*) FROM {traces} AND time_to_crime_days IS NOT NULL"
                ))
                .await;
            if n == 0 {
                return (None, None, None);
            }
            let at = |rank: i64| {
                format!(
                    "SELECT time_to_crime_days FROM {traces} AND time_to_crime_days IS NOT NULL \
                     ORDER BY time_to_crime_days LIMIT 1 OFFSET {}",
                    rank - 1
                )
            };
            let lo = db.scalar(&at((n + 1) / 2)).await;
            let hi = db.scalar(&at((n + 2) / 2)).await;
            one((lo + hi + 1).div_euclid(2))
        }
        "firearms_seized" => one(sum(db, "firearm_count", &seizures).await),
        "southbound_firearms_seized" => one(
            sum(db, "firearm_count", &format!("{seizures} AND direction = 'OUTBOUND'")).await,
        ),
        "ice_task_force_firearms" => one(
            sum(
                db,
                "firearm_count",
                &format!(
                    "{seizures} AND seizing_agency = 'ICE' AND operation IN \
                     ('Southwest Border Task Force', 'Border Enforcement Security Task Force (BEST)')"
                ),
            )
            .await,
        ),
        "joint_operation_firearms" => one(
            sum(
                db,
                "firearm_count",
                &format!("{seizures} AND operation = 'Joint ICE-CBP Southbound Operation'"),
            )
            .await,
        ),
        "cbp_outbound_firearms" => one(
            sum(
                db,
                "firearm_count",
                &format!(
                    "{seizures} AND seizing_agency = 'CBP' AND direction = 'OUTBOUND' \
                     AND port_of_entry IS NOT NULL"
                ),
            )
            .await,
        ),
        "seized_firearms_matched_to_traces" => {
            let agency = and_params(params, &[("seizingAgency", "s.seizing_agency")]);
            // Without `firearm_link`: two records are one gun when their normalized serials and
            // manufacturers are equal, or when ATF's and the seizing agency's latest decisions
            // on them both confirm; a seized firearm is matched when its gun, over any number of
            // such steps, has a record a trace holds.
            one(db
                .scalar(&format!(
                    "WITH RECURSIVE \
                       confirmed(s, t) AS ( \
                         SELECT DISTINCT d.seized_firearm_id, d.traced_firearm_id \
                         FROM link_decision d JOIN firearm sr ON sr.id = d.seized_firearm_id \
                         JOIN firearm tr ON tr.id = d.traced_firearm_id \
                         WHERE (SELECT a.decision FROM link_decision a \
                                WHERE a.seized_firearm_id = d.seized_firearm_id \
                                AND a.traced_firearm_id = d.traced_firearm_id AND a.side = 'ATF' \
                                ORDER BY a.id DESC LIMIT 1) = 'CONFIRM' \
                         AND (SELECT b.decision FROM link_decision b \
                              WHERE b.seized_firearm_id = d.seized_firearm_id \
                              AND b.traced_firearm_id = d.traced_firearm_id \
                              AND b.side = sr.owner_agency ORDER BY b.id DESC LIMIT 1) = 'CONFIRM'), \
                       edge(a, b) AS ( \
                         SELECT x.id, y.id FROM firearm x JOIN firearm y \
                           ON y.serial_normalized = x.serial_normalized AND y.id <> x.id \
                           AND LOWER(TRIM(y.manufacturer)) = LOWER(TRIM(x.manufacturer)) \
                         UNION SELECT s, t FROM confirmed UNION SELECT t, s FROM confirmed), \
                       matched(id) AS ( \
                         SELECT firearm_id FROM trace \
                         UNION SELECT e.b FROM matched m JOIN edge e ON e.a = m.id) \
                     SELECT COUNT(*) FROM seizure_firearm sf JOIN seizure s ON s.id = sf.seizure_id \
                     WHERE s.fiscal_year = {fy}{agency} AND sf.firearm_id IN (SELECT id FROM matched)"
                ))
                .await)
        }
        "trainings_delivered" => one(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM training_event WHERE fiscal_year = {fy}{training_params}"
            ))
            .await,
        ),
        "officials_trained" => one(
            sum(
                db,
                "participants",
                &format!("training_event WHERE fiscal_year <= {fy}{training_params}"),
            )
            .await,
        ),
        "etrace_accounts_granted" => one(
            sum(
                db,
                "etrace_accounts_granted",
                &format!("training_event WHERE fiscal_year = {fy}{training_params}"),
            )
            .await,
        ),
        "funding_obligated" => {
            one((sum(db, "obligated_cents", &awards).await + 50).div_euclid(100))
        }
        "funding_disbursed" => {
            one((sum(db, "disbursed_cents", &awards).await + 50).div_euclid(100))
        }
        "funding_disbursed_per_mille" => {
            let n = sum(db, "disbursed_cents", &awards).await;
            let d = sum(db, "obligated_cents", &awards).await;
            (per_mille(n, d), Some(n), Some(d))
        }
        other => panic!("no oracle for metric {other}"),
    }
}

fn params_of(measure: &Value) -> BTreeMap<String, String> {
    measure["metric"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const DECIDE: &str = "mutation($s: ID!, $t: ID!, $d: LinkDecisionKind!) { \
    decideLinkCandidate(input: { seizedFirearmId: $s, tracedFirearmId: $t, decision: $d }) { status } }";

/// Decides on the demo's link candidates so that the data holds confirmed links: ATF confirms
/// every candidate, ICE confirms its own (CBP reads no traces, so it decides on none), and one
/// side of the first confirmed pair changes its mind and back. CBP then records a seizure of that
/// pair's gun with ICE's very serial, which reaches the trace only over two links (its identical
/// serial to ICE's record, then the confirmed link). Returns how many pairs are confirmed.
async fn confirm_some_candidates(app: &TestApp) -> usize {
    let atf = app.as_role(Role::Atf);
    let ice = app.as_role(Role::Ice);
    let found = atf
        .query_ok(
            "{ linkCandidates(first: 100) { nodes { \
               seizedFirearm { id manufacturer type serialNumber provenance { ownerAgency } } \
               tracedFirearm { id } } } }",
        )
        .await;
    let nodes = found["data"]["linkCandidates"]["nodes"]
        .as_array()
        .expect("candidates")
        .clone();
    let mut first: Option<Value> = None;
    let mut confirmed = 0;
    for node in &nodes {
        let vars = |d: &str| json!({ "s": node["seizedFirearm"]["id"], "t": node["tracedFirearm"]["id"], "d": d });
        ok(&atf, DECIDE, vars("CONFIRM")).await;
        if node["seizedFirearm"]["provenance"]["ownerAgency"] == "ICE" {
            ok(&ice, DECIDE, vars("CONFIRM")).await;
            if first.is_none() {
                ok(&ice, DECIDE, vars("REJECT")).await;
                ok(&ice, DECIDE, vars("CONFIRM")).await;
                first = Some(node["seizedFirearm"].clone());
            }
            confirmed += 1;
        }
    }
    let first = first.unwrap_or_else(|| panic!("a candidate on an ICE seizure: {found}"));
    ok(
        &app.as_role(Role::Cbp),
        "mutation($input: SeizureInput!) { recordSeizure(input: $input) { id } }",
        json!({ "input": {
            "caseNumber": "TWO-HOPS-1", "seizingAgency": "CBP", "seizedOn": "2022-03-04",
            "usState": "AZ", "direction": "OUTBOUND", "ammunitionRounds": 0,
            "firearms": [{ "manufacturer": first["manufacturer"], "type": first["type"],
                           "serialNumber": first["serialNumber"] }]
        } }),
    )
    .await;
    confirmed
}

/// Runs `query` and expects no error.
async fn ok(caller: &crate::helpers::As<'_>, query: &str, variables: Value) -> Value {
    let answer = caller.query(query, variables).await;
    assert!(answer["errors"].is_null(), "{query}: {answer}");
    answer
}

#[tokio::test]
async fn every_metric_equals_independent_sql_for_an_exact_role() {
    let app = demo_app().await;
    let confirmed = confirm_some_candidates(&app).await;
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM firearm_link WHERE basis = 'CONFIRMED_NEAR_SERIAL'")
            .await,
        i64::try_from(confirmed).expect("a count")
    );
    for (code, owner, metric, params) in extra_measures() {
        let made = create_as_oversight(&app, code, owner, metric, &params).await;
        assert!(made["errors"].is_null(), "{code}: {made}");
    }
    let answer = app.as_role(Role::Atf).query_ok(MEASURES).await;
    let measures = answer["data"]["performanceMeasures"].as_array().unwrap();
    assert_eq!(measures.len(), 9 + extra_measures().len());
    let catalogue = app
        .as_role(Role::Atf)
        .query_ok("{ metricCatalogue { name } }")
        .await;
    let mut uncovered: Vec<String> = catalogue["data"]["metricCatalogue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    let mut compared = 0;
    let mut nonzero = 0;
    for m in measures {
        let metric = m["metric"]["name"].as_str().unwrap();
        uncovered.retain(|n| n != metric);
        let params = params_of(m);
        let actuals = m["actuals"].as_array().unwrap();
        assert!(!actuals.is_empty(), "{m}");
        for a in actuals {
            let fy = i32::try_from(a["fiscalYear"].as_i64().unwrap()).unwrap();
            let (value, numerator, denominator) = oracle(&app.db, metric, &params, fy).await;
            let got = (
                a["value"].as_i64(),
                a["numerator"].as_i64(),
                a["denominator"].as_i64(),
            );
            assert_eq!(
                got,
                (value, numerator, denominator),
                "{} ({metric} {params:?}) FY{fy}",
                m["code"]
            );
            assert_eq!(a["suppressed"], json!(false));
            compared += 1;
            if value.is_some_and(|v| v > 0) {
                nonzero += 1;
            }
        }
        // Reference data (the agencies' eTrace dates) carries no ingestion time.
        assert_eq!(
            m["asOf"].is_string(),
            metric != "etrace_state_agencies",
            "{m}"
        );
    }
    assert!(
        uncovered.is_empty(),
        "metrics never compared: {uncovered:?}"
    );
    assert!(
        compared > 100 && nonzero * 2 > compared,
        "{compared} compared, {nonzero} non-zero"
    );
}

#[tokio::test]
async fn a_role_without_aggregate_access_gets_null_and_forbidden_at_value_and_the_rest_answers() {
    let app = demo_app().await;
    let query = "{ performanceMeasure(code: \"STATE-FUNDING-DISBURSED\") { code goal target \
                   actuals { fiscalYear value numerator denominator status } } }";
    let cbp = app.as_role(Role::Cbp).run(query).await;
    let measure = &cbp["data"]["performanceMeasure"];
    assert_eq!(measure["code"], "STATE-FUNDING-DISBURSED", "{cbp}");
    assert!(measure["goal"].is_string());
    let actuals = measure["actuals"].as_array().unwrap();
    assert!(!actuals.is_empty());
    for a in actuals {
        assert!(a["value"].is_null() && a["numerator"].is_null(), "{a}");
        assert_eq!(a["status"], "NOT_YET_MEASURABLE");
    }
    let codes = error_codes(&cbp);
    assert_eq!(codes.len(), actuals.len(), "{cbp}");
    assert!(codes.iter().all(|c| c == "FORBIDDEN"));
    let paths = error_paths(&cbp);
    assert!(
        paths.contains(&"performanceMeasure.actuals.0.value".to_owned()),
        "{paths:?}"
    );
    // STATE reads funding exactly: the same numbers as ATF.
    let state = app.as_role(Role::State).query_ok(query).await;
    let atf = app.as_role(Role::Atf).query_ok(query).await;
    assert_eq!(state["data"], atf["data"]);
    assert!(
        atf["data"]["performanceMeasure"]["actuals"][0]["value"].is_i64(),
        "{atf}"
    );
}

#[tokio::test]
async fn a_suppressed_role_gets_the_numbers_the_stats_publish_for_the_same_records() {
    let app = demo_app().await;
    let query = "{ performanceMeasure(code: \"ICE-JOINT-OPERATION\") { \
                   actuals { fiscalYear value suppressed } } }";
    let oversight = app.as_role(Role::Oversight).query_ok(query).await;
    let exact = app.as_role(Role::Ice).query_ok(query).await;
    let protected = oversight["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap();
    let exact = exact["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap();
    let mut differ = 0;
    for (p, e) in protected.iter().zip(exact) {
        assert_eq!(p["suppressed"], json!(true));
        assert_eq!(e["suppressed"], json!(false));
        let fy = p["fiscalYear"].as_i64().unwrap();
        let stats = app
            .as_role(Role::Oversight)
            .query_ok(&format!(
                "{{ seizureStats(filter: {{ fiscalYear: {{ min: {fy}, max: {fy} }}, \
                   operation: [\"Joint ICE-CBP Southbound Operation\"] }}, \
                   groupBy: [FISCAL_YEAR, OPERATION]) {{ buckets {{ firearms suppressed }} }} }}"
            ))
            .await;
        let buckets = stats["data"]["seizureStats"]["buckets"].as_array().unwrap();
        assert!(buckets.len() <= 1, "{stats}");
        // A cell the stats leave out publishes nothing: the measure has no value either.
        let published = buckets.first().map(|b| b["firearms"].clone());
        assert_eq!(
            p["value"],
            published.unwrap_or(Value::Null),
            "FY{fy}: {stats}"
        );
        if p["value"] != e["value"] {
            differ += 1;
        }
    }
    assert!(
        differ > 0,
        "protected values equal the exact ones in every year"
    );
    // Matching seized firearms to traces follows firearm links, which CBP may not (the default
    // policy's `firearmLink` rows are none): its own measure is FORBIDDEN to it, exact for ICE.
    let query = "{ performanceMeasure(code: \"CBP-OUTBOUND-TRACED\") { actuals { value } } }";
    let cbp = app.as_role(Role::Cbp).run(query).await;
    let actuals = cbp["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap();
    assert!(!actuals.is_empty(), "{cbp}");
    assert!(actuals.iter().all(|a| a["value"].is_null()), "{cbp}");
    let codes = error_codes(&cbp);
    assert_eq!(codes.len(), actuals.len(), "{cbp}");
    assert!(codes.iter().all(|c| c == "FORBIDDEN"), "{cbp}");
    assert!(
        cbp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("firearm links"),
        "{cbp}"
    );
    let ice = app.as_role(Role::Ice).query_ok(query).await;
    assert!(
        ice["data"]["performanceMeasure"]["actuals"][0]["value"].is_i64(),
        "{ice}"
    );
}

async fn records_generation(db: &TestDb) -> i64 {
    db.scalar("SELECT generation FROM data_generation WHERE scope = 'records'")
        .await
}

#[tokio::test]
async fn owners_and_oversight_change_measures_versioned_audited_and_retired() {
    let app = demo_app().await;
    let update = "mutation($code: String!, $v: Int!, $input: PerformanceMeasurePatch!) { \
                    updatePerformanceMeasure(code: $code, input: $input, expectedVersion: $v) { \
                      code version target metric { name parameters { name value } } \
                      previousVersions { version target superseded_by: supersededBy } } }";
    // Another agency may not.
    let refused = app
        .as_role(Role::Ice)
        .query(
            update,
            json!({ "code": "ATF-OFFICIALS-TRAINED", "v": 1, "input": { "target": 1 } }),
        )
        .await;
    assert_eq!(error_codes(&refused), ["FORBIDDEN"], "{refused}");
    // A parameter the metric does not take, or a wrong value, names the field.
    let bad = app
        .as_role(Role::Atf)
        .query(
            update,
            json!({ "code": "ATF-OFFICIALS-TRAINED", "v": 1,
                    "input": { "parameters": [{ "name": "provider", "value": "DEA" }] } }),
        )
        .await;
    assert_eq!(error_codes(&bad), ["BAD_USER_INPUT"], "{bad}");
    assert_eq!(
        bad["errors"][0]["extensions"]["field"],
        "parameters.provider"
    );
    let unknown = app
        .as_role(Role::Atf)
        .query(
            update,
            json!({ "code": "ATF-OFFICIALS-TRAINED", "v": 1, "input": { "metric": "free_sql" } }),
        )
        .await;
    assert_eq!(
        unknown["errors"][0]["extensions"]["field"], "metric",
        "{unknown}"
    );
    let generation = records_generation(&app.db).await;
    // The owner changes it; the version it replaces is kept.
    let changed = app
        .as_role(Role::Atf)
        .query(
            update,
            json!({ "code": "ATF-OFFICIALS-TRAINED", "v": 1, "input": { "target": 7000 } }),
        )
        .await;
    assert!(changed["errors"].is_null(), "{changed}");
    let m = &changed["data"]["updatePerformanceMeasure"];
    assert_eq!(m["version"], 2);
    assert_eq!(m["target"], 7000);
    assert_eq!(m["previousVersions"][0]["version"], 1);
    assert_eq!(m["previousVersions"][0]["target"], 6000);
    assert_eq!(m["metric"]["parameters"][0]["value"], "ATF");
    assert!(records_generation(&app.db).await > generation);
    // A stale version is refused.
    let stale = app
        .as_role(Role::Atf)
        .query(
            update,
            json!({ "code": "ATF-OFFICIALS-TRAINED", "v": 1, "input": { "target": 8000 } }),
        )
        .await;
    assert_eq!(error_codes(&stale), ["CONFLICT"], "{stale}");
    // Oversight changes any agency's measure.
    let by_oversight = app
        .as_role(Role::Oversight)
        .query(
            update,
            json!({ "code": "CBP-OUTBOUND-FIREARMS", "v": 1, "input": { "baseline": 120 } }),
        )
        .await;
    assert_eq!(
        by_oversight["data"]["updatePerformanceMeasure"]["version"], 2,
        "{by_oversight}"
    );
    let audited = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_event WHERE outcome = 'ok' \
             AND entities LIKE '%performanceMeasure%' AND operation IN \
             ('updatePerformanceMeasure ATF-OFFICIALS-TRAINED v2', \
              'updatePerformanceMeasure CBP-OUTBOUND-FIREARMS v2')",
        )
        .await;
    assert_eq!(audited, 2);
    // Creating: the caller's own agency only, a metric of the catalogue.
    let create = "mutation($input: PerformanceMeasureInput!) { \
                    createPerformanceMeasure(input: $input) { code ownerAgency version } }";
    let with = |code: &str, owner: Option<&str>, input: &Value| {
        let mut input = input.clone();
        input["code"] = json!(code);
        if let Some(owner) = owner {
            input["ownerAgency"] = json!(owner);
        }
        json!({ "input": input })
    };
    let input = json!({ "goal": "g", "indicator": "i", "metric": "southbound_firearms_seized",
                        "parameters": [{ "name": "seizingAgency", "value": "CBP" }],
                        "baseline": 1, "target": 2, "periodStart": "2021-10-01", "periodEnd": "2023-09-30" });
    let for_other = app
        .as_role(Role::Cbp)
        .query(create, with("CBP-X", Some("ICE"), &input))
        .await;
    assert_eq!(error_codes(&for_other), ["FORBIDDEN"], "{for_other}");
    let made = app
        .as_role(Role::Cbp)
        .query(create, with("cbp-x", None, &input))
        .await;
    assert_eq!(
        made["data"]["createPerformanceMeasure"]["code"], "CBP-X",
        "{made}"
    );
    assert_eq!(
        made["data"]["createPerformanceMeasure"]["ownerAgency"],
        "CBP"
    );
    let again = app
        .as_role(Role::Cbp)
        .query(create, with("CBP-X", None, &input))
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
    let mut wrong = input.clone();
    wrong["parameters"] = json!([{ "name": "seizingAgency", "value": "ATF" }]);
    let wrong = app
        .as_role(Role::Cbp)
        .query(create, with("CBP-Y", None, &wrong))
        .await;
    assert_eq!(
        wrong["errors"][0]["extensions"]["field"], "parameters.seizingAgency",
        "{wrong}"
    );
    // Oversight names the owner agency.
    let unowned = app
        .as_role(Role::Oversight)
        .query(create, with("OV-X", None, &input))
        .await;
    assert_eq!(error_codes(&unowned), ["BAD_USER_INPUT"], "{unowned}");
    assert_eq!(unowned["errors"][0]["extensions"]["field"], "ownerAgency");
    // Another agency may not retire it; lookups normalise the code as creation does.
    let not_yours = app
        .as_role(Role::Ice)
        .run("mutation { retirePerformanceMeasure(code: \" cbp-x \") { version } }")
        .await;
    assert_eq!(error_codes(&not_yours), ["FORBIDDEN"], "{not_yours}");
    let found = app
        .as_role(Role::State)
        .query_ok("{ performanceMeasure(code: \" cbp-x \") { code } }")
        .await;
    assert_eq!(
        found["data"]["performanceMeasure"]["code"], "CBP-X",
        "{found}"
    );
    // Retiring: kept, listed only when asked, no longer changed.
    let retired = app
        .as_role(Role::Cbp)
        .run("mutation { retirePerformanceMeasure(code: \"CBP-X\") { version retiredAt } }")
        .await;
    assert!(retired["errors"].is_null(), "{retired}");
    assert_eq!(retired["data"]["retirePerformanceMeasure"]["version"], 2);
    let listed = |include: bool| {
        let app = &app;
        async move {
            let answer = app
                .as_role(Role::State)
                .query_ok(&format!(
                    "{{ performanceMeasures(includeRetired: {include}) {{ code }} }}"
                ))
                .await;
            answer["data"]["performanceMeasures"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["code"] == "CBP-X")
        }
    };
    assert!(!listed(false).await);
    assert!(listed(true).await);
    let after = app
        .as_role(Role::Cbp)
        .query(
            update,
            json!({ "code": "CBP-X", "v": 2, "input": { "target": 3 } }),
        )
        .await;
    assert_eq!(error_codes(&after), ["CONFLICT"], "{after}");
    let versions = app
        .db
        .scalar("SELECT COUNT(*) FROM performance_measure_version")
        .await;
    assert_eq!(
        versions, 3,
        "two updates and one retirement each keep a version"
    );
    // Creation and retirement are audited too, naming the measure and its new version.
    for operation in [
        "createPerformanceMeasure CBP-X v1",
        "retirePerformanceMeasure CBP-X v2",
    ] {
        let n = app
            .db
            .scalar(&format!(
                "SELECT COUNT(*) FROM audit_event WHERE outcome = 'ok' \
                 AND entities LIKE '%performanceMeasure%' AND operation = '{operation}'"
            ))
            .await;
        assert_eq!(n, 1, "{operation}");
    }
}

/// The published cell of `traceStats` for fiscal year `fy` grouped and filtered as given.
async fn trace_cell(app: &TestApp, fy: i64, filter: &str, group_by: &str) -> Option<Value> {
    let stats = app
        .as_role(Role::Oversight)
        .query_ok(&format!(
            "{{ traceStats(filter: {{ fiscalYear: {{ min: {fy}, max: {fy} }} {filter} }}, \
               groupBy: [FISCAL_YEAR {group_by}]) {{ buckets {{ count medianTimeToCrimeDays }} }} }}"
        ))
        .await;
    let buckets = stats["data"]["traceStats"]["buckets"].as_array().unwrap();
    assert!(buckets.len() <= 1, "{stats}");
    buckets.first().cloned()
}

#[tokio::test]
async fn a_suppressed_role_gets_only_published_trace_cells_and_no_finer_parameters() {
    let app = demo_app().await;
    for (code, owner, metric, params) in extra_measures() {
        let made = create_as_oversight(&app, code, owner, metric, &params).await;
        assert!(made["errors"].is_null(), "{code}: {made}");
    }
    let actuals = |code: &str| {
        format!(
            "{{ performanceMeasure(code: \"{code}\") {{ \
               actuals {{ fiscalYear value numerator denominator suppressed }} }} }}"
        )
    };
    // A parameter that is no stats dimension is finer than protected access: FORBIDDEN.
    let fgr = app
        .as_role(Role::Oversight)
        .run(&actuals("T-SUBMITTED-FGR-SON"))
        .await;
    let years = fgr["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap();
    assert!(!years.is_empty(), "{fgr}");
    assert!(years.iter().all(|a| a["value"].is_null()), "{fgr}");
    assert_eq!(error_codes(&fgr).len(), years.len(), "{fgr}");
    assert!(error_codes(&fgr).iter().all(|c| c == "FORBIDDEN"));
    assert!(
        fgr["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("requestingAgency"),
        "{fgr}"
    );
    let exact = app
        .as_role(Role::Atf)
        .query_ok(&actuals("T-SUBMITTED-FGR-SON"))
        .await;
    assert!(exact["data"]["performanceMeasure"]["actuals"][0]["value"].is_i64());
    let funded = app
        .as_role(Role::Oversight)
        .run(&actuals("TR-ACCOUNTS-UNFUNDED"))
        .await;
    assert!(
        error_codes(&funded).iter().all(|c| c == "FORBIDDEN") && !error_codes(&funded).is_empty(),
        "{funded}"
    );
    let threshold = 5;
    let small = |v: &Value| v.as_i64().is_some_and(|n| (1..threshold).contains(&n));
    // A trace count per fiscal year: the FISCAL_YEAR cell traceStats publishes.
    let submitted = app
        .as_role(Role::Oversight)
        .query_ok(&actuals("T-SUBMITTED"))
        .await;
    let mut differ = 0;
    for a in submitted["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap()
    {
        assert_eq!(a["suppressed"], json!(true), "{a}");
        let fy = a["fiscalYear"].as_i64().unwrap();
        let cell = trace_cell(&app, fy, "", "").await;
        let published = cell.map_or(json!(0), |c| c["count"].clone());
        assert_eq!(a["value"], published, "FY{fy}");
        let truth = app
            .db
            .scalar(&format!(
                "SELECT COUNT(*) FROM trace WHERE recovery_date >= '{}-10-01' AND recovery_date <= '{fy}-09-30'",
                fy - 1
            ))
            .await;
        if a["value"].as_i64() != Some(truth) {
            differ += 1;
        }
    }
    assert!(
        differ > 0,
        "protected trace counts equal the truth every year"
    );
    // A protected ratio: numerator and denominator are the published cells, never 1..4.
    let ratio = app
        .as_role(Role::Oversight)
        .query_ok(&actuals("T-PURCHASER-JAL"))
        .await;
    for a in ratio["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap()
    {
        let fy = a["fiscalYear"].as_i64().unwrap();
        assert!(!small(&a["numerator"]) && !small(&a["denominator"]), "{a}");
        let all = trace_cell(
            &app,
            fy,
            ", recoveryState: [\"MX-JAL\"]",
            ", RECOVERY_STATE",
        )
        .await;
        let part = trace_cell(
            &app,
            fy,
            ", recoveryState: [\"MX-JAL\"], status: [COMPLETED]",
            ", RECOVERY_STATE, STATUS",
        )
        .await;
        assert_eq!(
            a["denominator"],
            all.map_or(json!(0), |c| c["count"].clone()),
            "FY{fy}"
        );
        assert_eq!(
            a["numerator"],
            part.map_or(json!(0), |c| c["count"].clone()),
            "FY{fy}"
        );
        if let Some(v) = a["value"].as_i64() {
            assert!((0..=1000).contains(&v), "{a}");
        }
    }
    // A protected median: the cell's median as traceStats publishes it (withheld or rounded).
    let median = app
        .as_role(Role::Oversight)
        .query_ok(&actuals("T-TTC-SON"))
        .await;
    let mut medians = 0;
    for a in median["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap()
    {
        let fy = a["fiscalYear"].as_i64().unwrap();
        let cell = trace_cell(
            &app,
            fy,
            ", recoveryState: [\"MX-SON\"]",
            ", RECOVERY_STATE",
        )
        .await;
        let published = cell.map_or(Value::Null, |c| c["medianTimeToCrimeDays"].clone());
        assert_eq!(a["value"], published, "FY{fy}");
        if let Some(v) = a["value"].as_i64() {
            assert_eq!(v % 10, 0, "a protected median is rounded: {a}");
            medians += 1;
        }
    }
    assert!(medians > 0, "{median}");
    // asOf follows the same access: FORBIDDEN for a role without an input's aggregates.
    let as_of = app
        .as_role(Role::Cbp)
        .run("{ performanceMeasure(code: \"STATE-FUNDING-DISBURSED\") { code asOf } }")
        .await;
    assert!(
        as_of["data"]["performanceMeasure"]["asOf"].is_null(),
        "{as_of}"
    );
    assert_eq!(error_codes(&as_of), ["FORBIDDEN"], "{as_of}");
}

#[tokio::test]
async fn an_actual_outside_the_period_names_the_fiscal_year() {
    let app = demo_app().await;
    let answer = app
        .as_role(Role::Atf)
        .run("{ performanceMeasure(code: \"ATF-ETRACE-STATES\") { code actuals(fiscalYear: 2030) { value } } }")
        .await;
    assert_eq!(error_codes(&answer), ["BAD_USER_INPUT"], "{answer}");
    assert_eq!(answer["errors"][0]["extensions"]["field"], "fiscalYear");
    let one = app
        .as_role(Role::Atf)
        .query_ok("{ performanceMeasure(code: \"ATF-ETRACE-STATES\") { actuals(fiscalYear: 2025) { fiscalYear value status } } }")
        .await;
    let actuals = one["data"]["performanceMeasure"]["actuals"]
        .as_array()
        .unwrap();
    assert_eq!(actuals.len(), 1);
    // All 32 state prosecutors' offices have eTrace access by the end of FY2025 (the demo's
    // last published milestone), the measure's target at the end of its period.
    assert_eq!(actuals[0]["value"], 32, "{one}");
    assert_eq!(actuals[0]["status"], "ON_TRACK");
}

#[tokio::test]
async fn racing_writes_to_one_measure_leave_one_winner_and_a_conflict() {
    let app = demo_app().await;
    let update = "mutation($v: Int!, $t: Int!) { updatePerformanceMeasure(code: \"ATF-OFFICIALS-TRAINED\", \
                    input: { target: $t }, expectedVersion: $v) { version target } }";
    let atf = app.as_role(Role::Atf);
    let oversight = app.as_role(Role::Oversight);
    let (a, b) = tokio::join!(
        atf.query(update, json!({ "v": 1, "t": 7001 })),
        oversight.query(update, json!({ "v": 1, "t": 7002 })),
    );
    let mut codes = [error_codes(&a), error_codes(&b)].concat();
    codes.sort();
    assert_eq!(codes, ["CONFLICT"], "{a} {b}");
    let versions = app
        .db
        .scalar("SELECT COUNT(*) FROM performance_measure_version")
        .await;
    assert_eq!(versions, 1, "only the winner kept a version");
    // Two creations of one code: one measure, the other refused with CONFLICT.
    let create = "mutation($code: String!) { createPerformanceMeasure(input: { code: $code, \
                    goal: \"g\", indicator: \"i\", metric: \"trainings_delivered\", baseline: 1, \
                    target: 2, periodStart: \"2021-10-01\", periodEnd: \"2023-09-30\" }) { code } }";
    let (a, b) = tokio::join!(
        atf.query(create, json!({ "code": "ATF-RACE" })),
        atf.query(create, json!({ "code": "atf-race " })),
    );
    let mut codes = [error_codes(&a), error_codes(&b)].concat();
    codes.sort();
    assert_eq!(codes, ["CONFLICT"], "{a} {b}");
}
