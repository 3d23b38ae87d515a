//! Each role sees exactly its slice of the brief, on every path: lists, lookups, nested edges,
//! stats and `me`.

use entity::Role;
use serde_json::{Value, json};

use crate::fixtures::{self, Fixture};
use crate::helpers::{TestApp, error_codes, error_paths, spawn_app};

async fn app_with_fixture() -> (TestApp, Fixture) {
    let app = spawn_app().await;
    let fixture = fixtures::load(&app.db.db).await;
    (app, fixture)
}

fn numbers(response: &Value, list: &str, field: &str) -> Vec<String> {
    let mut out: Vec<String> = response["data"][list]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no {list} in {response}"))
        .iter()
        .map(|n| n[field].as_str().unwrap_or_default().to_owned())
        .collect();
    out.sort();
    out
}

const TRACES: &str = "{ traces { totalCount nodes { traceNumber recoveryState purchaserName dealerLicense timeToCrimeDays } } }";

#[tokio::test]
async fn atf_reads_every_trace_but_the_purchaser_only_with_the_pii_scope() {
    let (app, _) = app_with_fixture().await;
    let without = app.as_role(Role::Atf).run(TRACES).await;
    assert_eq!(numbers(&without, "traces", "traceNumber"), ["T-1", "T-2"]);
    assert_eq!(without["data"]["traces"]["totalCount"], 2);
    assert!(
        without["data"]["traces"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["purchaserName"].is_null())
    );
    assert!(error_codes(&without).iter().all(|c| c == "FORBIDDEN"));
    assert!(
        error_paths(&without)
            .iter()
            .all(|p| p.ends_with("purchaserName")),
        "{without}"
    );
    assert_eq!(error_paths(&without).len(), 2);

    let with = app.as_role_with(Role::Atf, &["pii"]).query_ok(TRACES).await;
    let names: Vec<&Value> = with["data"]["traces"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["purchaserName"])
        .collect();
    assert!(names.contains(&&json!("Synthetic Purchaser 1")));
    assert!(
        with["data"]["traces"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["dealerLicense"] == "9-99-999-01-0A-00001")
    );
}

#[tokio::test]
async fn ice_sees_trace_rows_without_purchaser_and_dealer_licence() {
    let (app, _) = app_with_fixture().await;
    let response = app.as_role(Role::Ice).run(TRACES).await;
    assert_eq!(numbers(&response, "traces", "traceNumber"), ["T-1", "T-2"]);
    for node in response["data"]["traces"]["nodes"].as_array().unwrap() {
        assert!(node["purchaserName"].is_null() && node["dealerLicense"].is_null());
    }
    assert!(
        response["data"]["traces"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["timeToCrimeDays"] == 1522)
    );
    let mut paths = error_paths(&response);
    paths.sort();
    assert_eq!(
        paths,
        [
            "traces.nodes.0.dealerLicense",
            "traces.nodes.0.purchaserName",
            "traces.nodes.1.dealerLicense",
            "traces.nodes.1.purchaserName"
        ]
    );
    assert!(error_codes(&response).iter().all(|c| c == "FORBIDDEN"));
}

#[tokio::test]
async fn aggregate_only_roles_are_refused_trace_rows_but_answered_by_stats() {
    let (app, f) = app_with_fixture().await;
    for role in [Role::Cbp, Role::State, Role::Oversight] {
        let caller = app.as_role(role);
        let list = caller
            .run("{ traces { totalCount nodes { traceNumber } } }")
            .await;
        assert!(list["data"].is_null(), "{role}: {list}");
        assert_eq!(error_codes(&list), ["FORBIDDEN"], "{role}");

        let lookup = caller
            .query_on(
                "query($id: ID!) { trace(id: $id) { traceNumber } }",
                f.trace_sonora,
            )
            .await;
        assert_eq!(error_codes(&lookup), ["FORBIDDEN"], "{role}");
        let missing = caller
            .run("{ trace(id: \"999999\") { traceNumber } }")
            .await;
        assert_eq!(
            error_codes(&missing),
            ["FORBIDDEN"],
            "{role}: a refusal must not depend on existence"
        );

        let stats = caller.run("{ traceStats(groupBy: [SOURCE_CLASS]) { total suppressed buckets { count suppressed } } }").await;
        assert!(stats["errors"].is_null(), "{role}: {stats}");
        // Two traces, one per source class: protected, so no count of 1 to 4 shows; a cell
        // perturbed to zero is left out.
        assert_eq!(stats["data"]["traceStats"]["suppressed"], true);
        let total = stats["data"]["traceStats"]["total"].as_i64().unwrap();
        assert!(total == 0 || (5..=7).contains(&total), "{role}: {stats}");
        let buckets = stats["data"]["traceStats"]["buckets"].as_array().unwrap();
        assert!(buckets.len() <= 2, "at most one per source class: {stats}");
        for bucket in buckets {
            assert!(bucket["count"].as_i64().unwrap() >= 5 && bucket["suppressed"] == true);
        }
    }
}

#[tokio::test]
async fn atf_reads_seizures_without_case_numbers() {
    let (app, _) = app_with_fixture().await;
    let response = app
        .as_role(Role::Atf)
        .run("{ seizures { nodes { caseNumber seizingAgency firearmCount } } }")
        .await;
    let nodes = response["data"]["seizures"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(
        nodes
            .iter()
            .all(|n| n["caseNumber"].is_null() && n["firearmCount"] == 1)
    );
    assert_eq!(error_codes(&response), ["FORBIDDEN", "FORBIDDEN"]);

    let cbp = app
        .as_role(Role::Cbp)
        .query_ok("{ seizures { nodes { caseNumber } } }")
        .await;
    assert_eq!(numbers(&cbp, "seizures", "caseNumber"), ["C-1", "C-2"]);
}

#[tokio::test]
async fn atf_reads_only_the_funding_awards_it_implements() {
    let (app, f) = app_with_fixture().await;
    let atf = app.as_role(Role::Atf);
    let list = atf
        .run("{ fundingAwards { totalCount nodes { awardNumber obligated } } }")
        .await;
    assert_eq!(numbers(&list, "fundingAwards", "awardNumber"), ["A-1"]);
    assert_eq!(
        list["data"]["fundingAwards"]["nodes"][0]["obligated"],
        "1250000.50"
    );
    let other = atf
        .query_on(
            "query($id: ID!) { fundingAward(id: $id) { awardNumber } }",
            f.award_none,
        )
        .await;
    assert!(
        other["errors"].is_null() && other["data"]["fundingAward"].is_null(),
        "{other}"
    );
    let nonexistent = atf
        .run("{ fundingAward(id: \"424242\") { awardNumber } }")
        .await;
    assert_eq!(
        other, nonexistent,
        "an award outside the slice answers exactly like one that does not exist"
    );

    let state = app
        .as_role(Role::State)
        .run("{ fundingAwards { nodes { awardNumber } } }")
        .await;
    assert_eq!(
        numbers(&state, "fundingAwards", "awardNumber"),
        ["A-1", "A-2"]
    );
}

#[tokio::test]
async fn cbp_sees_no_funding_at_all() {
    let (app, _) = app_with_fixture().await;
    let cbp = app.as_role(Role::Cbp);
    let rows = cbp.run("{ fundingAwards { nodes { awardNumber } } }").await;
    assert_eq!(error_codes(&rows), ["FORBIDDEN"]);
    let stats = cbp
        .run("{ fundingStats(groupBy: [FISCAL_YEAR]) { total } }")
        .await;
    assert_eq!(error_codes(&stats), ["FORBIDDEN"]);
    // A nested edge to funding is simply empty for CBP.
    let trainings = cbp
        .query_ok("{ trainings { nodes { reference fundingAward { awardNumber } } } }")
        .await;
    assert_eq!(
        numbers(&trainings, "trainings", "reference"),
        ["ATF-ET-1", "STATE-FO-1"],
        "CBP reads every training"
    );
    let nodes = trainings["data"]["trainings"]["nodes"]
        .as_array()
        .expect("nodes");
    assert!(
        nodes.iter().all(|n| n["fundingAward"].is_null()),
        "{trainings}"
    );
    // Control: the same edge answers the award for a role that reads funding.
    let state = app
        .as_role(Role::State)
        .run("{ trainings { nodes { reference fundingAward { awardNumber } } } }")
        .await;
    let funded = state["data"]["trainings"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["reference"] == "ATF-ET-1")
        .cloned()
        .unwrap_or_else(|| panic!("{state}"));
    assert_eq!(funded["fundingAward"]["awardNumber"], "A-1", "{state}");
}

#[tokio::test]
async fn a_seized_gun_links_to_its_trace_for_ice_but_cbp_sees_only_seizures() {
    let (app, f) = app_with_fixture().await;
    let query = "query($id: ID!) { firearm(id: $id) { manufacturer traces { totalCount nodes { traceNumber } } seizures { nodes { caseNumber seizingAgency } } } }";
    let vars = json!({ "id": f.firearm_traced_and_seized.to_string() });

    let ice = app.as_role(Role::Ice).query(query, vars.clone()).await;
    assert!(ice["errors"].is_null(), "{ice}");
    assert_eq!(
        ice["data"]["firearm"]["traces"]["nodes"][0]["traceNumber"],
        "T-1"
    );
    assert_eq!(
        ice["data"]["firearm"]["seizures"]["nodes"][0]["caseNumber"],
        "C-1"
    );

    // CBP reads its own record of the gun, not ATF's, and follows no link to ATF's.
    let cbp = app.as_role(Role::Cbp).query(query, vars).await;
    assert!(cbp["data"]["firearm"].is_null(), "ATF's record: {cbp}");
    let cbp = app
        .as_role(Role::Cbp)
        .query(
            "query($id: ID!) { firearm(id: $id) { manufacturer traces { totalCount } seizures { nodes { caseNumber seizingAgency } } links { firearm { id } } } }",
            json!({ "id": f.firearm_seized_by_cbp.to_string() }),
        )
        .await;
    assert!(cbp["errors"].is_null(), "{cbp}");
    assert_eq!(
        cbp["data"]["firearm"]["traces"]["totalCount"], 0,
        "CBP reads no trace rows"
    );
    assert_eq!(
        cbp["data"]["firearm"]["seizures"]["nodes"][0]["seizingAgency"],
        "CBP"
    );
    assert_eq!(cbp["data"]["firearm"]["links"], json!([]), "{cbp}");

    // A firearm known only from a trace is outside CBP's slice.
    let traced_only = app
        .as_role(Role::Cbp)
        .query_on(
            "query($id: ID!) { firearm(id: $id) { id } }",
            f.firearm_traced_only,
        )
        .await;
    assert!(traced_only["data"]["firearm"].is_null());
    let listed = app
        .as_role(Role::Cbp)
        .run("{ firearms { nodes { manufacturer } } }")
        .await;
    assert_eq!(
        numbers(&listed, "firearms", "manufacturer"),
        ["Glock", "Ruger"]
    );

    let state = app
        .as_role(Role::State)
        .run("{ firearms { nodes { id } } }")
        .await;
    assert_eq!(error_codes(&state), ["FORBIDDEN"]);
}

#[tokio::test]
async fn state_reads_trainings_and_funding_but_only_aggregates_of_seizures() {
    let (app, _) = app_with_fixture().await;
    let state = app.as_role(Role::State);
    let trainings = state
        .query_ok("{ trainings { nodes { reference fundingAward { awardNumber } } } }")
        .await;
    assert_eq!(
        numbers(&trainings, "trainings", "reference"),
        ["ATF-ET-1", "STATE-FO-1"]
    );
    let seizures = state.run("{ seizures { nodes { id } } }").await;
    assert_eq!(error_codes(&seizures), ["FORBIDDEN"]);
    let stats = state.query_ok("{ seizureStats(groupBy: [SEIZING_AGENCY]) { total suppressed buckets { key { seizingAgency } count } } }").await;
    assert_eq!(stats["data"]["seizureStats"]["suppressed"], true);
}

#[tokio::test]
async fn me_reports_each_roles_permissions_truthfully() {
    let (app, _) = app_with_fixture().await;
    let query = "{ me { subject role scopes permissions { entity rows hiddenFields canWrite } } }";
    let permission = |response: &Value, entity: &str| -> Value {
        response["data"]["me"]["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["entity"] == entity)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let ice = app.as_role(Role::Ice).run(query).await;
    assert_eq!(ice["data"]["me"]["role"], "ICE");
    assert_eq!(permission(&ice, "trace")["rows"], "ALL");
    assert_eq!(
        permission(&ice, "trace")["hiddenFields"],
        json!(["dealerLicense", "purchaserName"])
    );
    assert_eq!(permission(&ice, "fundingAward")["rows"], "AGGREGATE_ONLY");
    assert_eq!(permission(&ice, "seizure")["canWrite"], true);
    assert_eq!(permission(&ice, "trace")["canWrite"], false);
    // Firearm records are read through the traces and seizures that hold them, not owned.
    assert_eq!(permission(&ice, "firearm")["rows"], "LINKED");
    assert_eq!(permission(&ice, "firearmLink")["rows"], "ALL");

    let cbp = app.as_role(Role::Cbp).run(query).await;
    assert_eq!(permission(&cbp, "fundingAward")["rows"], "NONE");
    assert_eq!(permission(&cbp, "trace")["rows"], "AGGREGATE_ONLY");
    assert_eq!(permission(&cbp, "firearm")["rows"], "LINKED");
    assert_eq!(permission(&cbp, "firearmLink")["rows"], "NONE");
    assert_eq!(permission(&cbp, "performanceMeasure")["rows"], "ALL");
    assert_eq!(permission(&cbp, "performanceMeasure")["canWrite"], true);

    let atf = app.as_role_with(Role::Atf, &["pii"]).run(query).await;
    assert_eq!(atf["data"]["me"]["scopes"], json!(["pii"]));
    assert_eq!(permission(&atf, "trace")["hiddenFields"], json!([]));
    assert_eq!(permission(&atf, "fundingAward")["rows"], "IMPLEMENTING");
    assert_eq!(permission(&atf, "firearm")["rows"], "LINKED");
}
