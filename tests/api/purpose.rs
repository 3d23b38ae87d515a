//! Purpose of access and the audit trail as a user meets them: reading other agencies' rows needs
//! a stated purpose, and every operation leaves an audit event the data's owner can see.

use std::time::Duration;

use entity::Role;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TEST_DEV_SECRET, TestApp, error_codes, spawn_app, spawn_app_with};

async fn app() -> TestApp {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    app
}

/// Every stored audit event, every column, as one JSON text.
async fn stored_events(app: &TestApp) -> String {
    let events = entity::audit_event::Entity::find()
        .all(&app.db.db)
        .await
        .expect("audit events read");
    serde_json::to_string(&events).expect("events serialize")
}

fn withheld(response: &Value) -> bool {
    response["errors"].as_array().is_some_and(|errors| {
        errors.iter().any(|e| {
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("X-Access-Purpose")
        })
    })
}

#[tokio::test]
async fn reading_another_agencys_rows_without_a_purpose_is_refused_with_what_is_missing() {
    let app = app().await;
    let ice = app.as_role(Role::Ice).without_purpose();
    let traces = ice
        .run("{ traces { totalCount nodes { traceNumber } } }")
        .await;
    assert_eq!(
        traces["data"]["traces"]["totalCount"], 0,
        "ATF's traces are withheld: {traces}"
    );
    assert!(
        withheld(&traces) && error_codes(&traces).contains(&"FORBIDDEN".to_owned()),
        "{traces}"
    );

    // Its own seizures need no purpose; the CBP one is withheld and the response says so.
    let seizures = ice
        .run("{ seizures { nodes { caseNumber seizingAgency } } }")
        .await;
    let nodes = seizures["data"]["seizures"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{seizures}");
    assert_eq!(nodes[0]["seizingAgency"], "ICE");
    assert!(withheld(&seizures));

    // Aggregates and own-agency reads need none.
    let atf = app.as_role(Role::Atf).without_purpose();
    let own = atf
        .query_ok("{ traces { totalCount } traceStats(groupBy: [SOURCE_CLASS]) { total } }")
        .await;
    assert_eq!(own["data"]["traces"]["totalCount"], 2);

    let with = app
        .as_role(Role::Ice)
        .with_purpose("HSI case 2026-77")
        .run("{ traces { totalCount } }")
        .await;
    assert_eq!(with["data"]["traces"]["totalCount"], 2);
    assert!(with["errors"].is_null(), "{with}");
}

#[tokio::test]
async fn a_malformed_purpose_is_refused_by_name() {
    let app = app().await;
    for bad in ["x", "<script>alert(1)</script>", &"a".repeat(201)] {
        let (status, body) = app
            .as_role(Role::Ice)
            .with_purpose(bad)
            .send("{ me { role } }", json!({}))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("X-Access-Purpose")
        );
    }
}

#[tokio::test]
async fn every_operation_leaves_an_audit_event_and_owners_see_who_read_their_data() {
    let app = app().await;
    let ice_caller = app.as_role(Role::Ice).with_purpose("HSI case 2026-77");
    ice_caller
        .run("query IceLooksAtTraces { traces { nodes { traceNumber } } }")
        .await;
    let cbp = app.as_role(Role::Cbp);
    cbp.run("query CbpTriesTraces { traces { totalCount } }")
        .await;
    cbp.run("{ seizures { totalCount } }").await;
    // A request that reads personal data: the data leaves in the response, never in the trail.
    let atf = app.as_role_with(Role::Atf, &["pii"]);
    let read = atf
        .run("query AtfReadsPurchasers { traces { nodes { purchaserName dealerLicense } } }")
        .await;
    assert!(
        read.to_string().contains("Synthetic Purchaser 1"),
        "control: the request read personal data: {read}"
    );

    let events = "{ auditEvents(first: 50) { totalCount nodes { subject role purpose operation entities rowsReturned outcome } } }";
    let oversight_caller = app.as_role(Role::Oversight);
    let oversight = oversight_caller.run(events).await;
    let nodes = oversight["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{oversight}"))
        .clone();
    let find = |operation: &str| {
        nodes
            .iter()
            .find(|n| n["operation"] == operation)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let ice = find("IceLooksAtTraces");
    assert_eq!(ice["role"], "ICE", "{oversight}");
    assert_eq!(ice["purpose"], "HSI case 2026-77");
    assert_eq!(ice["entities"], json!(["trace"]));
    assert_eq!(ice["rowsReturned"], 2);
    assert_eq!(ice["outcome"], "ok");
    assert_eq!(find("CbpTriesTraces")["outcome"], "denied");
    assert!(
        nodes.iter().any(|n| n["operation"]
            .as_str()
            .unwrap_or_default()
            .starts_with("sha256:")),
        "unnamed operations are labelled by a hash"
    );
    assert_eq!(find("AtfReadsPurchasers")["rowsReturned"], 2, "{oversight}");

    // Every column of every stored event: no token (nor its signature alone) and no personal data.
    let stored = stored_events(&app).await;
    assert!(stored.contains("AtfReadsPurchasers"), "{stored}");
    for token in [
        ice_caller.token(),
        cbp.token(),
        atf.token(),
        oversight_caller.token(),
    ] {
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(
            !stored.contains(token) && !stored.contains(signature),
            "a token is in the audit trail: {stored}"
        );
    }
    for personal in ["Synthetic Purchaser 1", "9-99-999-01-0A-00001"] {
        assert!(
            !stored.contains(personal),
            "{personal} is in the audit trail: {stored}"
        );
    }

    // ATF sees the accesses to its data by others, and nothing about CBP's own seizures.
    let atf = app.as_role(Role::Atf).run(events).await;
    let ops: Vec<&str> = atf["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["operation"].as_str())
        .collect();
    assert!(ops.contains(&"IceLooksAtTraces"), "{atf}");
    assert!(
        ops.iter().all(|o| !o.starts_with("sha256:")),
        "CBP's read of its own seizures is not ATF's business: {ops:?}"
    );

    assert_chain_intact(&app).await;
}

#[tokio::test]
async fn a_write_records_its_event_in_its_own_transaction() {
    let app = app().await;
    let cbp = app.as_role(Role::Cbp);
    let update = "mutation Rename($op: String) { updateSeizure(id: \"1\", input: { operation: $op }, expectedVersion: 1) { version } }";
    let done = cbp.query(update, json!({ "op": "Southbound" })).await;
    assert_eq!(done["data"]["updateSeizure"]["version"], 2, "{done}");
    let stale = cbp.query(update, json!({ "op": "Again" })).await;
    assert_eq!(error_codes(&stale), ["CONFLICT"]);

    let writes = app
        .db
        .scalar("SELECT COUNT(*) FROM audit_event WHERE operation = 'updateSeizure'")
        .await;
    assert_eq!(
        writes, 1,
        "the committed write has its event; the refused one none"
    );
    let requests = app
        .db
        .scalar("SELECT COUNT(*) FROM audit_event WHERE operation = 'Rename'")
        .await;
    assert_eq!(
        requests, 2,
        "both requests are recorded, the refused one as an error"
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM audit_event WHERE operation = 'Rename' AND outcome = 'error'"
            )
            .await,
        1
    );
    assert_chain_intact(&app).await;
}

#[tokio::test]
async fn a_request_refused_before_execution_is_recorded_as_denied() {
    let app = app().await;
    // Nested deeper than the depth limit: refused before any database work.
    let bomb = format!(
        "query TooDeep {{ {}traces {{ nodes {{ traceNumber }} }}{} }}",
        "firearms { nodes { traces { nodes { firearm { ".repeat(6),
        " } } } } }".repeat(6)
    );
    let (status, _) = app.as_role(Role::Atf).send(&bomb, json!({})).await;
    assert_eq!(status, 400);
    let recorded = app
        .db
        .scalar_reaching(
            "SELECT COUNT(*) FROM audit_event WHERE outcome = 'denied' AND subject = 'test-atf'",
            1,
        )
        .await;
    assert_eq!(recorded, 1, "the refused request is in the audit trail");
}

#[tokio::test]
async fn a_request_refused_for_a_nul_character_is_recorded() {
    let app = app().await;
    let response = app
        .as_role(Role::Cbp)
        .query(
            "query NulProbe($s: [String!]) { seizures(filter: {usState: $s}) { totalCount } }",
            json!({ "s": ["A\u{0}Z"] }),
        )
        .await;
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"]);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM audit_event WHERE operation = 'NulProbe' AND outcome = 'error'").await, 1);
}

#[tokio::test]
async fn lookups_and_nested_edges_need_a_purpose_for_other_agencies_rows() {
    let app = spawn_app().await;
    let f = fixtures::load(&app.db.db).await;
    // ICE seizes the Glock ATF traced (T-1) and CBP seized (C-1): ICE's own record of it, which
    // ICE reads without a purpose, is linked to ATF's and CBP's, so its edges lead to other
    // agencies' traces and seizures.
    let recorded = app
        .as_role(Role::Ice)
        .query(
            "mutation($i: SeizureInput!) { recordSeizure(input: $i) { caseNumber firearmCount firearms { id } } }",
            json!({ "i": {
                "caseNumber": "ICE-GLK-1", "seizingAgency": "ICE", "seizedOn": "2021-03-01",
                "usState": "TX", "direction": "OUTBOUND", "ammunitionRounds": 0,
                "firearms": [{ "manufacturer": "Glock", "type": "PISTOL", "serialNumber": "GLK-00123" }]
            } }),
        )
        .await;
    assert_eq!(
        recorded["data"]["recordSeizure"]["firearmCount"], 1,
        "{recorded}"
    );
    let ice_record: i64 = recorded["data"]["recordSeizure"]["firearms"][0]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("{recorded}"));
    assert_ne!(ice_record, f.firearm_traced_and_seized, "ICE's own record");
    let linked = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM firearm_link WHERE firearm_id = {ice_record} OR linked_firearm_id = {ice_record}"
        ))
        .await;
    assert_eq!(linked, 2, "ICE's record is linked to ATF's and to CBP's");

    let lookup = "query($id: ID!) { trace(id: $id) { traceNumber } }";
    let edges = "query($id: ID!) { firearm(id: $id) { manufacturer traces { totalCount nodes { traceNumber } } seizures { totalCount nodes { caseNumber } } } }";

    // Without a purpose: the lookup of ATF's trace answers null and says why; the edges hold only
    // ICE's own seizure and say why.
    let without = app.as_role(Role::Ice).without_purpose();
    let trace = without.query_on(lookup, f.trace_sonora).await;
    assert!(trace["data"]["trace"].is_null(), "{trace}");
    assert!(withheld(&trace), "{trace}");
    assert_eq!(error_codes(&trace), ["FORBIDDEN"], "{trace}");
    let nested = without.query_on(edges, ice_record).await;
    let firearm = &nested["data"]["firearm"];
    assert_eq!(firearm["manufacturer"], "Glock", "{nested}");
    assert_eq!(firearm["traces"]["totalCount"], 0, "{nested}");
    assert_eq!(firearm["seizures"]["totalCount"], 1, "{nested}");
    assert_eq!(
        firearm["seizures"]["nodes"][0]["caseNumber"], "ICE-GLK-1",
        "{nested}"
    );
    assert!(withheld(&nested), "{nested}");

    // With one: the trace, and every trace and seizure of the firearm, and no withheld error.
    let with = app.as_role(Role::Ice).with_purpose("HSI case 2026-77");
    let trace = with.query_on(lookup, f.trace_sonora).await;
    assert!(trace["errors"].is_null(), "{trace}");
    assert_eq!(trace["data"]["trace"]["traceNumber"], "T-1");
    let nested = with.query_on(edges, ice_record).await;
    assert!(nested["errors"].is_null(), "{nested}");
    let firearm = &nested["data"]["firearm"];
    assert_eq!(firearm["traces"]["nodes"][0]["traceNumber"], "T-1");
    assert_eq!(firearm["traces"]["totalCount"], 1, "{nested}");
    assert_eq!(firearm["seizures"]["totalCount"], 2, "{nested}");
}

#[tokio::test]
async fn the_audit_trail_stores_no_variables_and_no_document_text() {
    let app = app().await;
    let atf = app.as_role(Role::Atf);
    let probe = atf
        .query(
            "query VariableProbe($s: [String!]) { traces(filter: {recoveryState: $s}) { totalCount } }",
            json!({ "s": ["MX-SON", "canary-in-a-variable"] }),
        )
        .await;
    assert_eq!(probe["data"]["traces"]["totalCount"], 1, "{probe}");
    let unnamed = atf
        .run("{ traces(filter: {recoveryState: [\"canary-in-the-document\"]}) { totalCount } }")
        .await;
    assert_eq!(unnamed["data"]["traces"]["totalCount"], 0, "{unnamed}");
    // A write whose variables carry personal data, and a refused one.
    let mut input = fixtures::trace_input("T-AUDIT", "AUD-0001");
    input["firearm"] = fixtures::without(
        input["firearm"].take(),
        &["caliber", "countryOfManufacture"],
    );
    let create = "mutation CreateProbe($i: TraceInput!) { createTrace(input: $i) { traceNumber } }";
    let created = atf.query(create, json!({ "i": input })).await;
    assert_eq!(
        created["data"]["createTrace"]["traceNumber"], "T-AUDIT",
        "{created}"
    );
    let mut bad = input.clone();
    bad["traceNumber"] = json!("T-AUDIT-2");
    bad["recoveryState"] = json!("canary-in-a-refused-write");
    let refused = atf.query(create, json!({ "i": bad })).await;
    assert_eq!(error_codes(&refused), ["BAD_USER_INPUT"], "{refused}");

    let stored = stored_events(&app).await;
    // The operations are there, by name or by the document's hash ...
    for operation in ["VariableProbe", "CreateProbe", "createTrace", "sha256:"] {
        assert!(stored.contains(operation), "{operation} missing: {stored}");
    }
    // ... and nothing the caller sent in them.
    for sent in [
        "canary",
        "Synthetic Purchaser 777",
        "9-99-999-01-0A-00777",
        "AUD-0001",
        "MX-SON",
    ] {
        assert!(
            !stored.contains(sent),
            "{sent} is in the audit trail: {stored}"
        );
    }
}

#[tokio::test]
async fn requests_without_a_valid_token_or_over_the_rate_leave_no_audit_event() {
    let app = spawn_app_with(|s| {
        s.limits.rate_per_second = 0.01;
        s.limits.rate_burst = 2;
    })
    .await;
    fixtures::load(&app.db.db).await;
    let events = || app.db.scalar("SELECT COUNT(*) FROM audit_event");
    let body = json!({ "query": "{ traces { totalCount } }" }).to_string();
    let atf = app.as_role(Role::Atf);

    // A request within the burst is recorded (the control below is the burst's second).
    let response = atf.run("{ traces { totalCount } }").await;
    assert_eq!(response["data"]["traces"]["totalCount"], 2, "{response}");
    assert_eq!(events().await, 1);

    // No token, a malformed one, one signed with another secret, an expired one: 401. The last
    // two name the subject of the served requests.
    let sign = |secret: &str, expires_in: i64| {
        let now = chrono::Utc::now().timestamp();
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({
                "iss": "firearms-hub", "aud": "firearms-hub", "sub": "test-atf", "role": "ATF",
                "nbf": now - 7200, "exp": now + expires_in
            }),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encoded")
    };
    let forged = sign("another-development-secret-of-48-bytes-012345678", 600);
    let expired = sign(TEST_DEV_SECRET, -3600);
    // Control: the same claims, signed with the right secret and in time, are accepted.
    let (status, response) = app
        .post_raw(
            Some(&sign(TEST_DEV_SECRET, 600)),
            "application/json",
            json!({ "query": "{ me { subject } }" }).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["data"]["me"]["subject"], "test-atf");
    assert_eq!(events().await, 2);
    for token in [None, Some("not-a-token"), Some(&forged), Some(&expired)] {
        let (status, response) = app.post_raw(token, "application/json", body.clone()).await;
        assert_eq!(status, 401, "{token:?}: {response}");
        assert_eq!(error_codes(&response), ["UNAUTHENTICATED"]);
    }

    // The same subject past its rate: 429.
    for _ in 0..3 {
        let (status, response) = app
            .post_raw(Some(atf.token()), "application/json", body.clone())
            .await;
        assert_eq!(status, 429, "{response}");
        assert_eq!(error_codes(&response), ["RATE_LIMITED"]);
    }

    // A refusal that is recorded (in the background, like any refusal before execution): once its
    // event is in, an event of the requests above would be too.
    let (status, _) = app
        .post_raw(
            Some(app.as_role(Role::Ice).token()),
            "application/json",
            "{ not json".to_owned(),
        )
        .await;
    assert_eq!(status, 400);
    let recorded = app
        .db
        .scalar_reaching(
            "SELECT COUNT(*) FROM audit_event WHERE subject = 'test-ice'",
            1,
        )
        .await;
    assert_eq!(recorded, 1, "the malformed request is recorded");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        events().await,
        3,
        "only the two served requests and the malformed one are in the trail"
    );
}

/// The denied events recorded for `subject` as refused before execution, once `expected` of them
/// have landed (they are appended in the background) and a moment has passed for any extra one.
async fn refused_events(app: &TestApp, subject: &str, expected: i64) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM audit_event WHERE outcome = 'denied' AND subject = '{subject}' \
         AND operation = '(refused before execution)'"
    );
    app.db.scalar_reaching(&sql, expected).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    app.db.scalar(&sql).await
}

#[tokio::test]
async fn each_request_of_a_verified_caller_refused_at_admission_is_recorded_once_as_denied() {
    let app = app().await;
    let token = app.as_role(Role::Ice).token().to_owned();
    let (status, _) = app
        .post_raw(Some(&token), "text/plain", "{ me { role } }".into())
        .await;
    assert_eq!(status, 415, "a wrong content type");
    let (status, _) = app
        .post_raw(Some(&token), "application/json", "{\"query\": ".into())
        .await;
    assert_eq!(status, 400, "malformed JSON");
    let (status, response) = app
        .as_role(Role::Ice)
        .with_purpose("<script>")
        .send("{ me { role } }", json!({}))
        .await;
    assert_eq!(status, 400, "an unacceptable purpose: {response}");
    assert_eq!(error_codes(&response), ["BAD_USER_INPUT"]);
    // A request whose token does not verify names no caller, and is not recorded.
    let (status, _) = app
        .post_raw(Some("not-a-token"), "text/plain", "{ me { role } }".into())
        .await;
    assert_eq!(status, 415);
    assert_eq!(refused_events(&app, "test-ice", 3).await, 3);
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM audit_event WHERE subject <> 'test-ice'")
            .await,
        0
    );
}

/// The audit chain verifies from its first event to its last.
async fn assert_chain_intact(app: &TestApp) {
    let report = firearms_hub::audit::verify(&app.db.db)
        .await
        .expect("verifies");
    assert!(report.first_broken.is_none(), "the audit chain is broken");
}

#[tokio::test]
async fn request_level_errors_carry_no_zero_locations() {
    let app = app().await;
    let withheld = app
        .as_role(Role::Atf)
        .without_purpose()
        .query("{ seizures { totalCount } }", json!({}))
        .await;
    let errors = withheld["errors"]
        .as_array()
        .expect("an error says what was withheld");
    assert_eq!(errors.len(), 1, "{withheld}");
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN");
    assert_eq!(
        errors[0]["extensions"]["reason"], "PURPOSE_REQUIRED",
        "a client recognises the withheld rows without reading the message: {withheld}"
    );
    assert!(
        errors[0].get("locations").is_none(),
        "an error of the whole request names no place in the document: {withheld}"
    );
    let hidden = app
        .as_role(Role::Ice)
        .query(
            "{ traces(first: 1) { nodes { purchaserName } } }",
            json!({}),
        )
        .await;
    let error = &hidden["errors"][0];
    assert_eq!(
        error["path"],
        json!(["traces", "nodes", 0, "purchaserName"])
    );
    assert!(error["extensions"]["reason"].is_null(), "{hidden}");
    assert!(
        error
            .get("locations")
            .and_then(Value::as_array)
            .is_none_or(|l| l.iter().all(|loc| loc["line"].as_i64() >= Some(1))),
        "{hidden}"
    );
}
