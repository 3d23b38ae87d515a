//! Purpose of access and the audit trail as a user meets them: reading other agencies' rows needs
//! a stated purpose, and every operation leaves an audit event the data's owner can see.

use entity::Role;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, error_codes, spawn_app};

async fn app() -> TestApp {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    app
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
        .query("{ traces { totalCount nodes { traceNumber } } }", json!({}))
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
        .query(
            "{ seizures { nodes { caseNumber seizingAgency } } }",
            json!({}),
        )
        .await;
    let nodes = seizures["data"]["seizures"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{seizures}");
    assert_eq!(nodes[0]["seizingAgency"], "ICE");
    assert!(withheld(&seizures));

    // Aggregates and own-agency reads need none.
    let atf = app.as_role(Role::Atf).without_purpose();
    let own = atf
        .query(
            "{ traces { totalCount } traceStats(groupBy: [SOURCE_CLASS]) { total } }",
            json!({}),
        )
        .await;
    assert!(own["errors"].is_null(), "{own}");
    assert_eq!(own["data"]["traces"]["totalCount"], 2);

    let with = app
        .as_role(Role::Ice)
        .with_purpose("HSI case 2026-77")
        .query("{ traces { totalCount } }", json!({}))
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
    app.as_role(Role::Ice)
        .with_purpose("HSI case 2026-77")
        .query(
            "query IceLooksAtTraces { traces { nodes { traceNumber } } }",
            json!({}),
        )
        .await;
    app.as_role(Role::Cbp)
        .query("query CbpTriesTraces { traces { totalCount } }", json!({}))
        .await;
    app.as_role(Role::Cbp)
        .query("{ seizures { totalCount } }", json!({}))
        .await;

    let events = "{ auditEvents(first: 50) { totalCount nodes { subject role purpose operation entities rowsReturned outcome } } }";
    let oversight = app.as_role(Role::Oversight).query(events, json!({})).await;
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
    let raw = serde_json::to_string(&nodes).unwrap();
    assert!(
        !raw.contains("Bearer") && !raw.contains("Synthetic Purchaser"),
        "no tokens or personal data in events"
    );

    // ATF sees the accesses to its data by others, and nothing about CBP's own seizures.
    let atf = app.as_role(Role::Atf).query(events, json!({})).await;
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

    assert!(
        firearms_hub::audit::verify(&app.db.db)
            .await
            .expect("verifies")
            .first_broken
            .is_none()
    );
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
    assert!(
        firearms_hub::audit::verify(&app.db.db)
            .await
            .expect("verifies")
            .first_broken
            .is_none()
    );
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
    let mut recorded = 0;
    for _ in 0..50 {
        recorded = app
            .db
            .scalar("SELECT COUNT(*) FROM audit_event WHERE outcome = 'denied' AND subject = 'test-atf'")
            .await;
        if recorded > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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

/// The denied events recorded for `subject` as refused before execution, once `expected` of them
/// have landed (they are appended in the background) and a moment has passed for any extra one.
async fn refused_events(app: &TestApp, subject: &str, expected: i64) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) FROM audit_event WHERE outcome = 'denied' AND subject = '{subject}' \
         AND operation = '(refused before execution)'"
    );
    for _ in 0..50 {
        if app.db.scalar(&sql).await >= expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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
