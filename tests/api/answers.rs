//! What an answer carries besides its data, and what the audit trail records of it: a write that
//! succeeds carries no error, and the agencies whose data a read could reach see that read in
//! their audit trail even when it returned nothing.

use entity::Role;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{As, TestApp, spawn_app};

async fn app() -> TestApp {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    app
}

fn seizure_input(case: &str) -> Value {
    json!({
        "caseNumber": case,
        "seizingAgency": "CBP",
        "seizedOn": "2022-03-04",
        "usState": "AZ",
        "direction": "OUTBOUND",
        "ammunitionRounds": 10,
        "firearms": [{ "manufacturer": "Ruger", "type": "PISTOL", "serialNumber": format!("{case}-F") }]
    })
}

/// Runs a mutation and expects its data and no error at all.
async fn write_ok(caller: &As<'_>, query: &str, variables: Value) -> Value {
    let answer = caller.query(query, variables).await;
    assert!(answer["errors"].is_null(), "{query}: {answer}");
    assert!(answer["data"].is_object(), "{query}: {answer}");
    answer["data"].clone()
}

#[tokio::test]
async fn a_write_that_succeeds_carries_no_error_with_or_without_a_purpose() {
    let app = app().await;
    for (n, cbp) in [
        app.as_role(Role::Cbp).without_purpose(),
        app.as_role(Role::Cbp),
    ]
    .into_iter()
    .enumerate()
    {
        let case = format!("QUIET-{n}");
        let created = write_ok(
            &cbp,
            "mutation($input: SeizureInput!) { recordSeizure(input: $input) { id caseNumber version } }",
            json!({ "input": seizure_input(&case) }),
        )
        .await;
        assert_eq!(created["recordSeizure"]["caseNumber"], case.as_str());
        let id = created["recordSeizure"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        write_ok(
            &cbp,
            "mutation($id: ID!) { updateSeizure(id: $id, input: { usState: \"TX\" }, expectedVersion: 1) { id usState } }",
            json!({ "id": id }),
        )
        .await;
        write_ok(
            &cbp,
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    }
    let atf = app.as_role(Role::Atf).without_purpose();
    let trace = write_ok(
        &atf,
        "mutation($input: TraceInput!) { createTrace(input: $input) { id traceNumber } }",
        json!({ "input": fixtures::trace_input("QUIET-T", "QUIET-TF") }),
    )
    .await;
    let id = trace["createTrace"]["id"].as_str().expect("id").to_owned();
    write_ok(
        &atf,
        "mutation($id: ID!) { updateTrace(id: $id, input: { requestingAgency: \"GN\" }, expectedVersion: 1) { id requestingAgency } }",
        json!({ "id": id }),
    )
    .await;

    // Control: a read of other agencies' rows in the same request still says what was withheld.
    let mixed = app
        .as_role(Role::Cbp)
        .without_purpose()
        .query(
            "mutation($input: SeizureInput!) { recordSeizure(input: $input) { id firearms { seizures { totalCount } } } }",
            json!({ "input": seizure_input("QUIET-M") }),
        )
        .await;
    assert!(
        mixed["errors"].to_string().contains("withheld"),
        "an edge to other agencies' seizures without a purpose still reports it: {mixed}"
    );
}

/// The operations of the events `caller` reads in its audit trail.
async fn operations_seen(caller: &As<'_>) -> Vec<String> {
    let answer = caller
        .query_ok("{ auditEvents(first: 100) { nodes { operation role } } }")
        .await;
    answer["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{answer}"))
        .iter()
        .filter_map(|n| n["operation"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn owners_see_reads_of_their_data_that_returned_nothing() {
    let app = app().await;
    let ice = app.as_role(Role::Ice);
    // No purpose: ATF's traces are withheld and nothing comes back.
    let probe = app
        .as_role(Role::Ice)
        .without_purpose()
        .run("query IceProbesWithoutPurpose { traces { totalCount } }")
        .await;
    assert_eq!(probe["data"]["traces"]["totalCount"], 0, "{probe}");
    // A filter matching no row.
    let empty = ice
        .run("query IceFindsNothing { traces(filter: { recoveryState: [\"MX-YUC\"] }) { totalCount } }")
        .await;
    assert_eq!(empty["data"]["traces"]["totalCount"], 0, "{empty}");
    // A lookup of an id that is not there.
    ice.run("query IceLooksUpNothing { trace(id: \"999999\") { id } }")
        .await;
    // Seizures, owned by CBP and ICE, read by ATF with a filter matching nothing.
    app.as_role(Role::Atf)
        .run("query AtfFindsNoSeizure { seizures(filter: { usState: [\"ME\"] }) { totalCount } }")
        .await;
    // Firearms read with a serial nobody recorded: ICE reaches every holder's records (through
    // traces and links), CBP only those of seizures (CBP's and ICE's).
    ice.run("query IceFindsNoFirearm { firearms(filter: { serialNumber: \"NOBODY-1\" }) { totalCount } }")
        .await;
    app.as_role(Role::Cbp)
        .run("query CbpFindsNoFirearm { firearms(filter: { serialNumber: \"NOBODY-1\" }) { totalCount } }")
        .await;
    // Control: a read that returns rows.
    ice.run("query IceReadsTraces { traces { totalCount nodes { id } } }")
        .await;

    let atf = operations_seen(&app.as_role(Role::Atf)).await;
    for operation in [
        "IceProbesWithoutPurpose",
        "IceFindsNothing",
        "IceLooksUpNothing",
        "IceReadsTraces",
    ] {
        assert!(
            atf.contains(&operation.to_owned()),
            "ATF sees {operation}: {atf:?}"
        );
    }
    assert!(
        atf.contains(&"IceFindsNoFirearm".to_owned()),
        "ATF holds firearm records ICE can reach: {atf:?}"
    );
    assert!(
        !atf.contains(&"CbpFindsNoFirearm".to_owned()),
        "CBP cannot reach ATF's firearm records, so its reads are not ATF's business: {atf:?}"
    );
    let ice_seen = operations_seen(&ice).await;
    assert!(
        ice_seen.contains(&"CbpFindsNoFirearm".to_owned()),
        "ICE holds firearm records of seizures CBP reads: {ice_seen:?}"
    );
    let cbp = operations_seen(&app.as_role(Role::Cbp)).await;
    assert!(cbp.contains(&"AtfFindsNoSeizure".to_owned()), "{cbp:?}");
    assert!(
        !cbp.contains(&"IceFindsNothing".to_owned()),
        "CBP owns no traces, so ICE's trace reads are not its business: {cbp:?}"
    );
    let state = operations_seen(&app.as_role(Role::State)).await;
    assert!(
        !state
            .iter()
            .any(|o| o.starts_with("Ice") || o.starts_with("Atf")),
        "{state:?}"
    );
}

#[tokio::test]
async fn a_mutation_that_nulls_data_stops_the_mutations_after_it() {
    let app = app().await;
    let atf = app.as_role(Role::Atf);
    let answer = atf
        .query(
            "mutation($input: TraceInput!) { first: deleteTrace(id: \"999999\") second: createTrace(input: $input) { id } }",
            json!({ "input": fixtures::trace_input("AFTER-NULL", "AFTER-NULL-F") }),
        )
        .await;
    assert!(
        answer["data"].is_null(),
        "deleteTrace answers ID!, so its error nulls data: {answer}"
    );
    assert_eq!(crate::helpers::error_paths(&answer), ["first"], "{answer}");
    let stored = app
        .db
        .scalar("SELECT COUNT(*) FROM trace WHERE trace_number = 'AFTER-NULL'")
        .await;
    assert_eq!(
        stored, 0,
        "the create after it did not run, since its answer could not be seen"
    );

    // Control: the same create alone is stored.
    write_ok(
        &atf,
        "mutation($input: TraceInput!) { createTrace(input: $input) { id } }",
        json!({ "input": fixtures::trace_input("AFTER-NULL", "AFTER-NULL-F") }),
    )
    .await;
}
