//! Writes: each agency creates, changes and deletes only what it owns; a stale version conflicts;
//! a refused write changes nothing; what a write returns is the caller's slice.

use entity::Role;
use serde_json::{Value, json};

use crate::fixtures::{self, Fixture};
use crate::helpers::{TestApp, error_codes, spawn_app};

async fn app() -> (TestApp, Fixture) {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    (app, f)
}

fn trace_input(number: &str) -> Value {
    fixtures::trace_input(number, "ABC-0099")
}

const CREATE_TRACE: &str = "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber version timeToCrimeDays purchaserName firearm { serialNumber } provenance { ownerAgency } } }";

#[tokio::test]
async fn atf_creates_a_trace_and_gets_back_its_own_slice_of_it() {
    let (app, _) = app().await;
    let created = app
        .as_role(Role::Atf)
        .query(CREATE_TRACE, json!({ "input": trace_input("T-NEW") }))
        .await;
    let trace = &created["data"]["createTrace"];
    assert_eq!(trace["traceNumber"], "T-NEW", "{created}");
    assert_eq!(trace["version"], 1);
    assert_eq!(
        trace["timeToCrimeDays"], 808,
        "derived from the purchase and recovery dates"
    );
    assert_eq!(trace["provenance"]["ownerAgency"], "ATF");
    assert!(
        trace["purchaserName"].is_null(),
        "without the pii scope the purchaser stays hidden"
    );
    assert_eq!(error_codes(&created), ["FORBIDDEN"]);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM trace WHERE trace_number = 'T-NEW' AND purchaser_name = 'Synthetic Purchaser 777'").await, 1);

    let again = app
        .as_role(Role::Atf)
        .query(CREATE_TRACE, json!({ "input": trace_input("T-NEW") }))
        .await;
    assert_eq!(error_codes(&again), ["CONFLICT"], "{again}");
}

#[tokio::test]
async fn invalid_input_names_the_field_and_stores_nothing() {
    let (app, _) = app().await;
    let mut input = trace_input("T-BAD");
    input["recoveryState"] = json!("SONORA");
    let response = app
        .as_role(Role::Atf)
        .query(CREATE_TRACE, json!({ "input": input }))
        .await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"], "{response}");
    assert_eq!(
        response["errors"][0]["extensions"]["field"],
        "recoveryState"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace WHERE trace_number = 'T-BAD'")
            .await,
        0
    );
}

#[tokio::test]
async fn agencies_cannot_write_what_they_do_not_own_and_nothing_changes() {
    let (app, f) = app().await;
    let before = app.db.scalar("SELECT COUNT(*) FROM trace").await;
    for role in [Role::Ice, Role::Cbp, Role::State, Role::Oversight] {
        let response = app
            .as_role(role)
            .query(CREATE_TRACE, json!({ "input": trace_input("T-X") }))
            .await;
        assert_eq!(error_codes(&response), ["FORBIDDEN"], "{role}: {response}");
    }
    // CBP may write seizures, but not ICE's.
    let update = app
        .as_role(Role::Cbp)
        .query_on("mutation($id: ID!) { updateSeizure(id: $id, input: { operation: \"hijacked\" }, expectedVersion: 1) { id } }", f.seizure_ice)
        .await;
    assert_eq!(error_codes(&update), ["FORBIDDEN"], "{update}");
    let delete = app
        .as_role(Role::Ice)
        .query_on(
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            f.seizure_cbp,
        )
        .await;
    assert_eq!(error_codes(&delete), ["FORBIDDEN"]);
    // STATE owns the award ATF implements; ATF cannot change it.
    let award = app
        .as_role(Role::Atf)
        .query_on("mutation($id: ID!) { updateFundingAward(id: $id, input: { recipient: \"x\" }, expectedVersion: 1) { id } }", f.award_atf)
        .await;
    assert_eq!(error_codes(&award), ["FORBIDDEN"]);

    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM trace").await, before);
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM seizure WHERE operation = 'hijacked'")
            .await,
        0
    );
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM seizure").await, 2);
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM funding_award WHERE recipient = 'x'")
            .await,
        0
    );
}

#[tokio::test]
async fn an_update_with_a_stale_version_conflicts_and_changes_nothing() {
    let (app, f) = app().await;
    let update = "mutation($id: ID!, $v: Int!, $op: String) { updateSeizure(id: $id, input: { operation: $op }, expectedVersion: $v) { operation version } }";
    let cbp = app.as_role(Role::Cbp);
    let first = cbp
        .query(
            update,
            json!({ "id": f.seizure_cbp.to_string(), "v": 1, "op": "Southbound" }),
        )
        .await;
    assert_eq!(
        first["data"]["updateSeizure"],
        json!({ "operation": "Southbound", "version": 2 }),
        "{first}"
    );
    let stale = cbp
        .query(
            update,
            json!({ "id": f.seizure_cbp.to_string(), "v": 1, "op": "Overwrite" }),
        )
        .await;
    assert_eq!(error_codes(&stale), ["CONFLICT"], "{stale}");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM seizure WHERE operation = 'Southbound' AND version = 2")
            .await,
        1
    );
    // Clearing a nullable field with null works and keeps the firearms.
    let cleared = cbp
        .query(
            update,
            json!({ "id": f.seizure_cbp.to_string(), "v": 2, "op": null }),
        )
        .await;
    assert_eq!(
        cleared["data"]["updateSeizure"],
        json!({ "operation": null, "version": 3 }),
        "{cleared}"
    );
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT firearm_count FROM seizure WHERE id = {}",
                f.seizure_cbp
            ))
            .await,
        1
    );
}

#[tokio::test]
async fn an_update_keeps_fields_the_writer_cannot_read() {
    let (app, f) = app().await;
    // ATF without the pii scope changes the status; the purchaser it cannot see is kept.
    let response = app
        .as_role(Role::Atf)
        .query_on("mutation($id: ID!) { updateTrace(id: $id, input: { recoveryMunicipality: \"Hermosillo\" }, expectedVersion: 1) { recoveryMunicipality version } }", f.trace_sonora)
        .await;
    assert_eq!(
        response["data"]["updateTrace"],
        json!({ "recoveryMunicipality": "Hermosillo", "version": 2 }),
        "{response}"
    );
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM trace WHERE purchaser_name = 'Synthetic Purchaser 1' AND recovery_municipality = 'Hermosillo'").await,
        1
    );
}

#[tokio::test]
async fn deleting_removes_only_the_owners_record_and_lookups_then_answer_null() {
    let (app, f) = app().await;
    let cbp = app.as_role(Role::Cbp);
    let deleted = cbp
        .query_on(
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            f.seizure_cbp,
        )
        .await;
    assert_eq!(
        deleted["data"]["deleteSeizure"],
        f.seizure_cbp.to_string(),
        "{deleted}"
    );
    let lookup = cbp
        .query_on("query($id: ID!) { seizure(id: $id) { id } }", f.seizure_cbp)
        .await;
    assert!(lookup["data"]["seizure"].is_null());
    let again = cbp
        .query_on(
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            f.seizure_cbp,
        )
        .await;
    assert_eq!(error_codes(&again), ["NOT_FOUND"]);
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM seizure_firearm").await,
        1,
        "only the deleted seizure's links go"
    );
    // An award that funds training cannot be deleted out from under it.
    let award = app
        .as_role(Role::State)
        .query_on(
            "mutation($id: ID!) { deleteFundingAward(id: $id) }",
            f.award_atf,
        )
        .await;
    assert_eq!(error_codes(&award), ["CONFLICT"]);
}

#[tokio::test]
async fn bulk_import_through_the_api_is_all_or_nothing_and_reports_every_bad_row() {
    let (app, _) = app().await;
    let import = "mutation($rows: [TraceInput!]!, $dry: Boolean) { importTraces(rows: $rows, dryRun: $dry) { accepted rejected dryRun errors { row field message } } }";
    let mut bad = trace_input("T-B2");
    bad["recoveryState"] = json!("XX");
    let mut worse = trace_input("T-B3");
    worse["purchaseDate"] = json!("2030-01-01");
    let rows = json!([trace_input("T-B1"), bad, worse]);
    let response = app
        .as_role(Role::Atf)
        .query(import, json!({ "rows": rows }))
        .await;
    let report = &response["data"]["importTraces"];
    assert_eq!(report["accepted"], 0, "{response}");
    assert_eq!(report["rejected"], 2);
    let rows_named: Vec<i64> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["row"].as_i64().unwrap())
        .collect();
    assert!(
        rows_named.contains(&2) && rows_named.contains(&3) && !rows_named.contains(&1),
        "{report}"
    );
    assert!(
        report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "recoveryState")
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace WHERE trace_number LIKE 'T-B%'")
            .await,
        0
    );

    let dry = app
        .as_role(Role::Atf)
        .query(
            import,
            json!({ "rows": [trace_input("T-B1")], "dry": true }),
        )
        .await;
    assert_eq!(
        dry["data"]["importTraces"],
        json!({ "accepted": 1, "rejected": 0, "dryRun": true, "errors": [] })
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace WHERE trace_number = 'T-B1'")
            .await,
        0
    );

    let cbp = app
        .as_role(Role::Cbp)
        .query(import, json!({ "rows": [trace_input("T-B1")] }))
        .await;
    assert_eq!(error_codes(&cbp), ["FORBIDDEN"]);
}

#[tokio::test]
async fn two_concurrent_creates_of_one_trace_number_leave_one_trace_and_one_conflict() {
    let (app, _) = app().await;
    let atf = app.as_role(Role::Atf);
    // The same trace number with different contents: one create wins whole, the other conflicts
    // (it neither succeeds as a no-op nor overwrites the winner).
    let first = trace_input("T-RACE");
    let mut second = trace_input("T-RACE");
    second["recoveryState"] = json!("MX-SON");
    second["recoveryMunicipality"] = json!("Hermosillo");
    second["firearm"]["serialNumber"] = json!("RACE-0002");
    assert_ne!(first, second);
    let (a, b) = tokio::join!(
        atf.query(CREATE_TRACE, json!({ "input": first })),
        atf.query(CREATE_TRACE, json!({ "input": second })),
    );
    let mut codes = error_codes(&a);
    codes.extend(error_codes(&b));
    codes.retain(|c| c != "FORBIDDEN");
    assert_eq!(codes, ["CONFLICT"], "{a} {b}");
    let won = |r: &Value| r["data"]["createTrace"]["traceNumber"] == "T-RACE";
    assert!(won(&a) != won(&b), "exactly one create succeeds: {a} {b}");
    let (state, serial) = if won(&a) {
        ("MX-CHH", "ABC-0099")
    } else {
        ("MX-SON", "RACE-0002")
    };
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace WHERE trace_number = 'T-RACE'")
            .await,
        1
    );
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM trace t JOIN firearm f ON f.id = t.firearm_id \
                 WHERE t.trace_number = 'T-RACE' AND t.version = 1 \
                 AND t.recovery_state = '{state}' AND f.serial_number = '{serial}'"
            ))
            .await,
        1,
        "the stored trace is the winner's, unchanged"
    );
    let loser = if state == "MX-CHH" {
        "RACE-0002"
    } else {
        "ABC-0099"
    };
    assert_eq!(
        app.db
            .scalar(&format!(
                "SELECT COUNT(*) FROM firearm WHERE serial_number = '{loser}'"
            ))
            .await,
        0,
        "the refused create left no firearm behind"
    );
}

#[tokio::test]
async fn a_seizures_disposition_is_recorded_changed_and_cleared_by_its_owner() {
    let (app, _) = app().await;
    let cbp = app.as_role(Role::Cbp);
    let recorded = cbp
        .query(
            "mutation($i: SeizureInput!) { recordSeizure(input: $i) { id disposition version } }",
            json!({ "i": {
                "caseNumber": "CBP-DISP-1", "seizingAgency": "CBP", "seizedOn": "2023-05-01",
                "usState": "AZ", "direction": "OUTBOUND", "disposition": "RETAINED_AS_EVIDENCE",
                "firearms": [{ "manufacturer": "Ruger", "type": "RIFLE", "serialNumber": "DISP-0001" }]
            } }),
        )
        .await;
    let seizure = &recorded["data"]["recordSeizure"];
    assert_eq!(seizure["disposition"], "RETAINED_AS_EVIDENCE", "{recorded}");
    let id = seizure["id"].as_str().expect("id").to_owned();

    let update = "mutation($id: ID!, $v: Int!, $d: Disposition) { updateSeizure(id: $id, input: { disposition: $d }, expectedVersion: $v) { disposition version } }";
    let changed = cbp
        .query(
            update,
            json!({ "id": id, "v": 1, "d": "TRANSFERRED_TO_ATF" }),
        )
        .await;
    assert_eq!(
        changed["data"]["updateSeizure"],
        json!({ "disposition": "TRANSFERRED_TO_ATF", "version": 2 }),
        "{changed}"
    );
    let cleared = cbp
        .query(update, json!({ "id": id, "v": 2, "d": null }))
        .await;
    assert_eq!(
        cleared["data"]["updateSeizure"]["disposition"],
        Value::Null,
        "{cleared}"
    );

    // ATF reads seizure rows: the disposition shows to it as well.
    let seen = app
        .as_role(Role::Atf)
        .query(
            "query($id: ID!) { seizure(id: $id) { disposition } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        seen["data"]["seizure"],
        json!({ "disposition": null }),
        "{seen}"
    );

    let refused = cbp
        .query(update, json!({ "id": id, "v": 3, "d": "LOST" }))
        .await;
    assert!(refused["data"].is_null(), "{refused}");
    let message = refused["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Disposition") && message.contains("LOST"),
        "an unknown disposition is refused by name: {refused}"
    );
}
