//! Persisted operations: automatic persisted queries (Apollo's `extensions.persistedQuery`) over
//! GET and POST, kept in the database (bounded, shared by hub processes), and the allow-list
//! mode that runs only a manifest's operations (Apollo's and Relay's formats); the document's
//! hash in the audit trail and in the metrics.

use entity::Role;
use firearms_hub::audit::document_hash;
use serde_json::{Value, json};

use crate::helpers::{TestApp, another_process, error_codes, spawn_app, spawn_app_with};

const ME: &str = "query Me { me { role } }";
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

fn apq(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// `POST /graphql` with this body as `role`: status and body.
async fn post(app: &TestApp, role: Role, body: Value) -> (u16, Value) {
    post_accepting(app, role, body, "application/json").await
}

async fn post_accepting(app: &TestApp, role: Role, body: Value, accept: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Accept", accept)
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(role).token()),
        )
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// `GET /graphql` with these parameters as `role`: status and body.
async fn get(app: &TestApp, role: Role, params: &[(&str, String)]) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params)
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(role).token()),
        )
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// A hash-only request over GET, as Apollo clients send one.
async fn get_by_hash(app: &TestApp, role: Role, hash: &str) -> (u16, Value) {
    get(app, role, &[("extensions", apq(hash).to_string())]).await
}

async fn stored(app: &TestApp) -> i64 {
    app.db.scalar("SELECT COUNT(*) FROM persisted_query").await
}

#[tokio::test]
async fn an_automatic_persisted_query_round_trips_over_post_and_get() {
    let app = spawn_app().await;
    let hash = document_hash(ME);
    // Unknown: Apollo's answer, so the client resends with the document.
    let (status, body) = post(&app, Role::Atf, json!({ "extensions": apq(&hash) })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(body.get("data").is_none());
    let (status, _) = post_accepting(
        &app,
        Role::Atf,
        json!({ "extensions": apq(&hash) }),
        GRAPHQL_RESPONSE,
    )
    .await;
    assert_eq!(
        status, 400,
        "a request error with the GraphQL response media type"
    );
    let (status, _) = get_by_hash(&app, Role::Atf, &hash).await;
    assert_eq!(status, 200);
    assert_eq!(stored(&app).await, 0);

    // The document with its hash runs and is kept.
    let (status, body) = post(
        &app,
        Role::Atf,
        json!({ "query": ME, "extensions": apq(&hash) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["role"], "ATF");
    assert_eq!(stored(&app).await, 1);

    // Now the hash alone runs it, over GET and POST, for any caller.
    let (status, body) = get_by_hash(&app, Role::Ice, &hash).await;
    assert_eq!(
        (status, &body["data"]["me"]["role"]),
        (200, &json!("ICE")),
        "{body}"
    );
    let (status, body) = post(&app, Role::Cbp, json!({ "extensions": apq(&hash) })).await;
    assert_eq!(
        (status, &body["data"]["me"]["role"]),
        (200, &json!("CBP")),
        "{body}"
    );
    // Upper-case hex names the same document.
    let (_, body) = get_by_hash(&app, Role::Atf, &hash.to_uppercase()).await;
    assert_eq!(body["data"]["me"]["role"], "ATF", "{body}");

    // Registered over GET too (a query: GET may not register a mutation, which it may not run).
    let other = "query Role { me { role subject } }";
    let (status, body) = get(
        &app,
        Role::Atf,
        &[
            ("query", other.to_owned()),
            ("extensions", apq(&document_hash(other)).to_string()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(stored(&app).await, 2);
}

#[tokio::test]
async fn a_document_whose_hash_is_not_the_one_sent_is_refused_and_not_kept() {
    let app = spawn_app().await;
    let wrong = document_hash("{ me { subject } }");
    let (status, body) = post(
        &app,
        Role::Atf,
        json!({ "query": ME, "extensions": apq(&wrong) }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_HASH_MISMATCH"]);
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&document_hash(ME)), "{message}");
    let (status, body) = post(
        &app,
        Role::Atf,
        json!({ "query": ME, "extensions": { "persistedQuery": { "version": 2, "sha256Hash": wrong } } }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(
        &app,
        Role::Atf,
        json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "abc" } } }),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["BAD_USER_INPUT".to_owned()])
    );
    assert_eq!(stored(&app).await, 0);
    // Nothing unparsable is kept either.
    let broken = "{ me { role ";
    let (status, _) = post(
        &app,
        Role::Atf,
        json!({ "query": broken, "extensions": apq(&document_hash(broken)) }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(stored(&app).await, 0);
}

#[tokio::test]
async fn the_store_is_bounded_and_evicts_the_least_recently_used() {
    let app = spawn_app_with(|s| {
        s.limits.persisted_max = 2;
        s.limits.persisted_document_bytes = 60;
    })
    .await;
    let documents = [
        "query A { me { role } }",
        "query B { me { role } }",
        "query C { me { role } }",
    ];
    for document in documents {
        let (status, body) = post(
            &app,
            Role::Atf,
            json!({ "query": document, "extensions": apq(&document_hash(document)) }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(stored(&app).await, 2);
    let (_, body) = get_by_hash(&app, Role::Atf, &document_hash(documents[0])).await;
    assert_eq!(
        error_codes(&body),
        ["PERSISTED_QUERY_NOT_FOUND"],
        "A went first"
    );
    for document in &documents[1..] {
        let (_, body) = get_by_hash(&app, Role::Atf, &document_hash(document)).await;
        assert_eq!(body["data"]["me"]["role"], "ATF", "{document}: {body}");
    }
    // A document over limits.persisted_document_bytes is not kept.
    let long = format!("query Long {{ me {{ role {} }} }}", "subject ".repeat(8));
    let (status, body) = post(
        &app,
        Role::Atf,
        json!({ "query": long, "extensions": apq(&document_hash(&long)) }),
    )
    .await;
    assert_eq!(
        (status, error_codes(&body)),
        (400, vec!["LIMIT_EXCEEDED".to_owned()])
    );
    assert_eq!(stored(&app).await, 2);
    // persisted_max = 0 turns registration off, as Apollo clients understand.
    let off = spawn_app_with(|s| s.limits.persisted_max = 0).await;
    let (_, body) = post(
        &off,
        Role::Atf,
        json!({ "extensions": apq(&document_hash(ME)) }),
    )
    .await;
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_SUPPORTED"]);
}

#[tokio::test]
async fn a_query_registered_through_one_process_runs_by_hash_on_another() {
    let first = spawn_app().await;
    let second = another_process(&first, |_| {}).await;
    let hash = document_hash(ME);
    let (_, body) = get_by_hash(&second, Role::State, &hash).await;
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_FOUND"]);
    let (status, _) = post(
        &first,
        Role::Atf,
        json!({ "query": ME, "extensions": apq(&hash) }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = get_by_hash(&second, Role::State, &hash).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["role"], "STATE");
}

/// Writes a manifest into a temporary directory; the directory lives as long as the value.
fn manifest_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("operations.json");
    std::fs::write(&path, text).expect("manifest written");
    (dir, path)
}

const TRACES: &str = "query TraceCount { traceStats(groupBy: []) { total suppressed } }";

#[tokio::test]
async fn allow_list_mode_runs_only_the_apollo_manifests_operations() {
    let me_hash = document_hash(ME);
    let manifest = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            { "id": me_hash, "name": "Me", "type": "query", "body": ME },
            { "id": "trace-count", "name": "TraceCount", "type": "query", "body": TRACES },
        ]
    });
    let (_dir, path) = manifest_file(&manifest.to_string());
    let app = spawn_app_with(|s| {
        s.limits.persisted_only = true;
        s.limits.persisted_manifest = Some(path.clone());
    })
    .await;
    // By hash (Apollo), over GET and POST.
    let (status, body) = get_by_hash(&app, Role::Ice, &me_hash).await;
    assert_eq!(
        (status, &body["data"]["me"]["role"]),
        (200, &json!("ICE")),
        "{body}"
    );
    let (_, body) = post(&app, Role::Ice, json!({ "extensions": apq(&me_hash) })).await;
    assert_eq!(body["data"]["me"]["role"], "ICE", "{body}");
    // By id.
    let (_, body) = post(
        &app,
        Role::Oversight,
        json!({ "documentId": "trace-count" }),
    )
    .await;
    assert!(
        body["data"]["traceStats"]["suppressed"].is_boolean(),
        "{body}"
    );
    let (_, body) = get(
        &app,
        Role::Oversight,
        &[("documentId", "trace-count".to_owned())],
    )
    .await;
    assert!(
        body["data"]["traceStats"]["suppressed"].is_boolean(),
        "{body}"
    );
    // A manifest operation's full text is accepted, with or without its hash.
    let (_, body) = post(&app, Role::Atf, json!({ "query": ME })).await;
    assert_eq!(body["data"]["me"]["role"], "ATF", "{body}");

    // Anything else is refused, and the refusal is audited with the document's hash.
    let other = "query Sneaky { me { subject } }";
    for request in [
        json!({ "query": other }),
        json!({ "query": other, "extensions": apq(&document_hash(other)) }),
        json!({ "extensions": apq(&document_hash(other)) }),
        json!({ "documentId": "not-listed" }),
    ] {
        let (status, body) = post(&app, Role::Atf, request.clone()).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(
            error_codes(&body),
            ["PERSISTED_QUERY_NOT_ALLOWED"],
            "{request}"
        );
        assert!(body.get("data").is_none());
    }
    assert_eq!(
        stored(&app).await,
        0,
        "nothing is registered in allow-list mode"
    );
    let refused = app
        .db
        .scalar_reaching(
            &format!(
                "SELECT COUNT(*) FROM audit_event WHERE outcome = 'denied' \
                 AND document_hash = '{}'",
                document_hash(other)
            ),
            3,
        )
        .await;
    assert_eq!(
        refused, 3,
        "the refusals that sent the document or its hash name it"
    );
    let all_refusals = app
        .db
        .scalar_reaching(
            "SELECT COUNT(*) FROM audit_event WHERE outcome = 'denied'",
            4,
        )
        .await;
    assert_eq!(all_refusals, 4);
}

#[tokio::test]
async fn allow_list_mode_reads_relay_manifests_and_bad_manifests_stop_the_start() {
    let manifest = json!({ "q-me": ME, "q-traces": TRACES });
    let (_dir, path) = manifest_file(&manifest.to_string());
    let app = spawn_app_with(|s| {
        s.limits.persisted_only = true;
        s.limits.persisted_manifest = Some(path.clone());
    })
    .await;
    let (status, body) = get(&app, Role::Cbp, &[("documentId", "q-me".to_owned())]).await;
    assert_eq!(
        (status, &body["data"]["me"]["role"]),
        (200, &json!("CBP")),
        "{body}"
    );
    let (_, body) = post(&app, Role::Cbp, json!({ "id": "q-me" })).await;
    assert_eq!(body["data"]["me"]["role"], "CBP", "{body}");
    let (_, body) = post(
        &app,
        Role::Cbp,
        json!({ "extensions": apq(&document_hash(ME)) }),
    )
    .await;
    assert_eq!(body["data"]["me"]["role"], "CBP", "{body}");
    let (_, body) = post(&app, Role::Cbp, json!({ "query": "{ me { role } }" })).await;
    assert_eq!(error_codes(&body), ["PERSISTED_QUERY_NOT_ALLOWED"]);

    // A manifest that is wrong stops the start, naming the file and the entry.
    let db = crate::helpers::TestDb::new().await;
    for (text, entry) in [
        (r#"{"q-me": "{ me { role "}"#.to_owned(), "entry \"q-me\""),
        (
            json!({ "format": "apollo-persisted-query-manifest", "version": 1,
                    "operations": [{ "id": "a", "body": ME }, { "id": "b" }] })
            .to_string(),
            "operations[1] (id \"b\")",
        ),
        ("not json".to_owned(), "not JSON"),
    ] {
        let (_dir, path) = manifest_file(&text);
        let mut settings = db.server_settings();
        settings.limits.persisted_manifest = Some(path.clone());
        let error = firearms_hub::server::Application::build_with(
            settings,
            db.db.clone(),
            std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
        )
        .err()
        .map(|e| format!("{e:#}"))
        .expect("the start fails");
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(entry), "{error}");
    }
    let mut settings = db.server_settings();
    settings.limits.persisted_only = true;
    let error = firearms_hub::server::Application::build_with(
        settings,
        db.db.clone(),
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .err()
    .map(|e| format!("{e:#}"))
    .expect("the start fails");
    assert!(error.contains("limits.persisted_manifest"), "{error}");
}

#[tokio::test]
async fn the_audit_trail_and_the_metrics_name_the_operation_and_its_document() {
    let app = spawn_app().await;
    let hash = document_hash(ME);
    post(
        &app,
        Role::Atf,
        json!({ "query": ME, "extensions": apq(&hash) }),
    )
    .await;
    let (status, _) = get_by_hash(&app, Role::Atf, &hash).await;
    assert_eq!(status, 200);
    // Oversight reads the trail: the name, and the full hash of the document.
    let events = app
        .as_role(Role::Oversight)
        .query_ok("{ auditEvents(first: 20) { nodes { operation documentHash outcome } } }")
        .await;
    let named: Vec<&Value> = events["data"]["auditEvents"]["nodes"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["operation"] == "Me")
        .collect();
    assert_eq!(named.len(), 2, "{events}");
    assert!(
        named.iter().all(|e| e["documentHash"] == json!(hash)),
        "{events}"
    );
    // The chain still verifies with the hashes in it.
    let report = firearms_hub::audit::verify(&app.db.db)
        .await
        .expect("verify");
    assert!(report.is_intact(), "{report:?}");

    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    let short = &hash[..16];
    for source in ["registered", "persisted"] {
        let line = format!(
            "hub_graphql_operations_total{{operation=\"Me\",document=\"{short}\",source=\"{source}\"}}"
        );
        // The label pairs are bounded process-wide (and this process runs many tests): once
        // they are all taken, new pairs are counted as `other`.
        let grouped = format!(
            "hub_graphql_operations_total{{operation=\"other\",document=\"other\",source=\"{source}\"}}"
        );
        assert!(
            metrics.contains(&line) || metrics.contains(&grouped),
            "{line} in\n{metrics}"
        );
    }
}
