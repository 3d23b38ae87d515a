//! Hostile callers: each case asserts what the attacker gets (a refusal, no data, no crash) and that
//! the service still answers a normal query afterwards. Token forgery, batches, content types and
//! oversized bodies are in identity.rs; depth, alias, directive and fragment bombs in operations.rs.

use entity::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::fixtures::{self, Fixture};
use crate::helpers::{TEST_DEV_SECRET, TestApp, error_codes, spawn_app_with};

/// A hub over the fixtures. Rate limiting is off: these tests send hundreds of requests as one
/// subject on purpose, and the limiter has tests of its own.
async fn app() -> (TestApp, Fixture) {
    let app = spawn_app_with(|s| s.limits.rate_per_second = 0.0).await;
    let f = fixtures::load(&app.db.db).await;
    (app, f)
}

/// The tables whose rows callers read and write (the audit trail may grow with every request).
const TABLES: &[&str] = &[
    "trace",
    "firearm",
    "seizure",
    "seizure_firearm",
    "training_event",
    "funding_award",
];

async fn row_counts(app: &TestApp) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push((
            *table,
            app.db
                .scalar(&format!("SELECT COUNT(*) FROM {table}"))
                .await,
        ));
    }
    counts
}

/// Personal and restricted values of the fixtures that no hostile request may ever see.
const SECRETS: &[&str] = &["Synthetic Purchaser 1", "9-99-999-01-0A-00001"];

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(role: &str) -> Value {
    json!({
        "iss": "firearms-hub", "aud": "firearms-hub", "sub": "hostile", "role": role,
        "iat": now(), "nbf": now() - 10, "exp": now() + 600
    })
}

fn sign(claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(TEST_DEV_SECRET.as_bytes()),
    )
    .expect("encoded")
}

/// The purpose of access every request of these tests states.
const PURPOSE: &str = "CASE-2026-0001 hostile-input tests";

/// Posts one operation with a token; returns status and body, whatever the status.
async fn post(app: &TestApp, token: &str, query: &str, variables: Value) -> (u16, Value) {
    let body = json!({ "query": query, "variables": variables }).to_string();
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Access-Purpose", PURPOSE)
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body read");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// Asserts the response is an answer, not a failure of the service: HTTP 200, no INTERNAL error,
/// no secret in the body.
fn assert_handled(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 200, "{what}: {body}");
    assert!(
        !error_codes(body).iter().any(|c| c == "INTERNAL"),
        "{what}: an internal error leaked: {body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("internal error") && !text.contains("correlation"),
        "{what}: {body}"
    );
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what}: {secret} leaked: {body}");
    }
}

/// Asserts the request was refused by validation or as bad input: errors, no data for the field.
fn assert_refused(status: u16, body: &Value, field: &str, what: &str) {
    if status == 400 {
        // Refused before execution (e.g. JSON nested beyond the parser's limit).
        assert_eq!(error_codes(body), ["BAD_USER_INPUT"], "{what}: {body}");
        assert!(
            body.get("data").is_none_or(Value::is_null),
            "{what}: {body}"
        );
        return;
    }
    assert_handled(status, body, what);
    let errors = body["errors"].as_array().map(Vec::len).unwrap_or(0);
    assert!(errors > 0, "{what}: expected a refusal: {body}");
    // Either nothing was executed, or the field named is in the answer and null. (A field the
    // query does not select would be "null" here whatever happened, so it must be present.)
    assert!(
        body["data"].is_null()
            || body["data"]
                .get(field)
                .is_some_and(|answer| answer.is_null()),
        "{what}: no data may come back for {field}: {body}"
    );
    let codes = error_codes(body);
    assert!(
        codes.iter().all(|c| c == "BAD_USER_INPUT"),
        "{what}: expected BAD_USER_INPUT or a validation error: {body}"
    );
}

/// The service still answers an ordinary query.
async fn assert_alive(app: &TestApp) {
    let response = app.as_role(Role::Atf).run("{ me { role } }").await;
    assert_eq!(
        response["data"]["me"]["role"], "ATF",
        "still serving: {response}"
    );
}

const TRACES_WITH_PII: &str =
    "{ me { role } traces { totalCount nodes { traceNumber purchaserName dealerLicense } } }";

#[tokio::test]
async fn claims_do_not_widen_a_role_or_unlock_what_the_policy_hides() {
    let (app, _) = app().await;

    // Positive control: ATF with pii reads the purchaser, so the query below would reveal it.
    let mut atf = claims("ATF");
    atf["scopes"] = json!(["pii"]);
    let (status, body) = post(&app, &sign(&atf), TRACES_WITH_PII, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("Synthetic Purchaser 1"), "{body}");

    // ICE with pii, through the minting helper and through a hand-made `scopes` array padded with
    // claims that look like privileges: the policy hides the purchaser from ICE regardless.
    let minted = app.as_role_with(Role::Ice, &["pii"]).token().to_owned();
    let mut padded = claims("ICE");
    padded["scopes"] = json!(["pii", "admin", "role:ATF", "OVERSIGHT"]);
    padded["roles"] = json!(["ATF", "OVERSIGHT"]);
    padded["agency"] = json!("ATF");
    padded["is_admin"] = json!(true);
    padded["https://firearms-hub/role"] = json!("OVERSIGHT");
    padded["permissions"] = json!({ "trace": { "rows": "ALL", "hiddenFields": [] } });
    for (token, what) in [(minted, "minted pii"), (sign(&padded), "padded claims")] {
        let (status, body) = post(&app, &token, TRACES_WITH_PII, json!({})).await;
        assert_handled(status, &body, what);
        assert_eq!(body["data"]["me"]["role"], "ICE", "{what}: {body}");
        assert_eq!(body["data"]["traces"]["totalCount"], 2, "{what}: {body}");
        for node in body["data"]["traces"]["nodes"].as_array().expect("nodes") {
            assert!(node["purchaserName"].is_null(), "{what}: {body}");
            assert!(node["dealerLicense"].is_null(), "{what}: {body}");
        }
        assert!(
            error_codes(&body).iter().all(|c| c == "FORBIDDEN"),
            "{what}: {body}"
        );
    }

    // A role must be spelled exactly; near misses are not ATF.
    for role in [
        "atf",
        "Atf",
        " ATF",
        "ATF ",
        "ATF\u{0}",
        "ＡＴＦ",
        "ATF,OVERSIGHT",
    ] {
        let (status, body) = post(&app, &sign(&claims(role)), TRACES_WITH_PII, json!({})).await;
        assert_eq!(status, 401, "role {role:?}: {body}");
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "role {role:?}");
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    }
    assert_alive(&app).await;
}

#[tokio::test]
async fn ids_of_other_agencies_answer_exactly_as_ids_that_do_not_exist() {
    let (app, f) = app().await;
    let missing = "987654";

    // CBP reads no trace rows: the refusal is the same whether the id exists or not.
    let cbp = app.as_role(Role::Cbp);
    let lookup = "query($id: ID!) { trace(id: $id) { id traceNumber purchaserName } }";
    let existing = cbp.query_on(lookup, f.trace_sonora).await;
    let absent = cbp.query(lookup, json!({ "id": missing })).await;
    assert_eq!(error_codes(&existing), ["FORBIDDEN"], "{existing}");
    assert!(existing["data"]["trace"].is_null(), "{existing}");
    assert_eq!(
        existing, absent,
        "an existing trace must be indistinguishable from a missing one"
    );

    // ATF reads the awards it implements: another award is null, exactly like a missing one.
    let atf = app.as_role(Role::Atf);
    let award = "query($id: ID!) { fundingAward(id: $id) { id recipient obligated } }";
    let foreign = atf.query_on(award, f.award_none).await;
    let absent = atf.query(award, json!({ "id": missing })).await;
    assert_eq!(foreign, json!({ "data": { "fundingAward": null } }));
    assert_eq!(foreign, absent);
    let own = atf.query_on(award, f.award_atf).await;
    assert_eq!(
        own["data"]["fundingAward"]["id"],
        f.award_atf.to_string(),
        "control: its own award is visible: {own}"
    );

    // ICE cannot change or delete a CBP seizure, and nothing changes.
    let before = row_counts(&app).await;
    let ice = app.as_role(Role::Ice);
    let update = ice
        .query_on("mutation($id: ID!) { updateSeizure(id: $id, input: { operation: \"hijacked\", usState: \"TX\" }, expectedVersion: 1) { id operation caseNumber } }", f.seizure_cbp)
        .await;
    assert_eq!(error_codes(&update), ["FORBIDDEN"], "{update}");
    assert!(update["data"].is_null(), "{update}");
    let delete = ice
        .query_on(
            "mutation($id: ID!) { deleteSeizure(id: $id) }",
            f.seizure_cbp,
        )
        .await;
    assert_eq!(error_codes(&delete), ["FORBIDDEN"], "{delete}");
    assert_eq!(row_counts(&app).await, before);
    let unchanged = app
        .db
        .scalar(&format!(
            "SELECT COUNT(*) FROM seizure WHERE id = {} AND version = 1 AND us_state = 'AZ' AND operation = 'Fixture Operation'",
            f.seizure_cbp
        ))
        .await;
    assert_eq!(unchanged, 1, "the CBP seizure is untouched");
    assert_alive(&app).await;
}

#[tokio::test]
async fn malformed_ids_are_bad_user_input_everywhere() {
    let (app, _) = app().await;
    let before = row_counts(&app).await;
    let token = app.as_role(Role::Atf).token().to_owned();
    let long = "9".repeat(10_000);
    let ids = [
        "-1",
        "0",
        "abc",
        "1 OR 1=1",
        "1; DROP TABLE trace",
        "1' --",
        "",
        " 1",
        "1.0",
        "1e3",
        "0x10",
        "9223372036854775808",
        "-9223372036854775808",
        "１",
        "1\u{0}",
        long.as_str(),
    ];
    let lookups = ["trace", "seizure", "training", "fundingAward", "firearm"];
    for id in ids {
        for field in lookups {
            let query = format!("query($id: ID!) {{ {field}(id: $id) {{ id }} }}");
            let (status, body) = post(&app, &token, &query, json!({ "id": id })).await;
            assert_refused(status, &body, field, &format!("{field}({id:.20?})"));
            assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{field}({id:.20?})");
        }
        let (status, body) = post(
            &app,
            &token,
            "mutation($id: ID!) { deleteTrace(id: $id) }",
            json!({ "id": id }),
        )
        .await;
        assert_refused(
            status,
            &body,
            "deleteTrace",
            &format!("deleteTrace({id:.20?})"),
        );
        let (status, body) = post(
            &app,
            &token,
            "mutation($id: ID!) { updateTrace(id: $id, input: { recoveryMunicipality: \"x\" }, expectedVersion: 1) { id } }",
            json!({ "id": id }),
        )
        .await;
        assert_refused(
            status,
            &body,
            "updateTrace",
            &format!("updateTrace({id:.20?})"),
        );
    }
    // An id that is not a string or integer at all is a validation error, not a crash.
    for literal in ["1.5", "true", "[1]", "{a: 1}", "null"] {
        let (status, body) = post(
            &app,
            &token,
            &format!("{{ trace(id: {literal}) {{ id }} }}"),
            json!({}),
        )
        .await;
        assert_refused(status, &body, "trace", &format!("trace(id: {literal})"));
    }
    assert_eq!(row_counts(&app).await, before);
    assert_alive(&app).await;
}

/// Strings an attacker would try in a filter.
fn payloads() -> Vec<String> {
    let mut p: Vec<String> = [
        "' OR '1'='1",
        "MX-SON' OR 1=1 --",
        "MX-SON'; DELETE FROM trace; --",
        "\"; DROP TABLE seizure; --",
        "1) UNION SELECT purchaser_name FROM trace --",
        "' || (SELECT purchaser_name FROM trace LIMIT 1) || '",
        "%",
        "_",
        "%' OR '%'='",
        "*",
        "\\",
        "\\' OR 1=1 --",
        "$1",
        "?",
        "MX-SON\u{0}' OR 1=1",
        "\u{0}",
        "\u{202E}NOS-XM",
        "Sonora\u{301}",
        "𝔐𝔛-𝔖𝔒𝔑",
        "𝔖ynthetic",
        "<script>alert(1)</script>",
        "${jndi:ldap://127.0.0.1/a}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    p.push("A".repeat(100_000));
    p.push("'".repeat(10_000));
    p
}

#[tokio::test]
async fn injection_in_every_string_filter_is_inert() {
    let (app, _) = app().await;
    let before = row_counts(&app).await;
    // (role, connection, filter type, field, is a list, a real value that matches one row)
    let filters: &[(Role, &str, &str, &str, bool, &str)] = &[
        (
            Role::Ice,
            "traces",
            "TraceFilter",
            "recoveryState",
            true,
            "MX-SON",
        ),
        (
            Role::Ice,
            "traces",
            "TraceFilter",
            "purchaseState",
            true,
            "AZ",
        ),
        (Role::Ice, "traces", "TraceFilter", "caliber", true, ""),
        (
            Role::Ice,
            "traces",
            "TraceFilter",
            "manufacturer",
            true,
            "Colt",
        ),
        (
            Role::Ice,
            "traces",
            "TraceFilter",
            "serialNumber",
            false,
            "CLT-555",
        ),
        (Role::Cbp, "seizures", "SeizureFilter", "usState", true, ""),
        (
            Role::Cbp,
            "seizures",
            "SeizureFilter",
            "portOfEntry",
            true,
            "",
        ),
        (
            Role::Cbp,
            "seizures",
            "SeizureFilter",
            "operation",
            true,
            "",
        ),
        (
            Role::State,
            "trainings",
            "TrainingFilter",
            "mexicanState",
            true,
            "",
        ),
        (
            Role::State,
            "fundingAwards",
            "FundingFilter",
            "program",
            true,
            "",
        ),
        (
            Role::Atf,
            "firearms",
            "FirearmFilter",
            "manufacturer",
            true,
            "Ruger",
        ),
        (Role::Atf, "firearms", "FirearmFilter", "caliber", true, ""),
        (
            Role::Atf,
            "firearms",
            "FirearmFilter",
            "serialNumber",
            false,
            "RGR-777",
        ),
    ];
    for (role, connection, input, field, list, real) in filters {
        let token = app.as_role(*role).token().to_owned();
        let query = format!(
            "query($f: {input}) {{ {connection}(filter: $f, first: 50) {{ totalCount nodes {{ id }} }} }}"
        );
        if !real.is_empty() {
            // Control: the filter works, and a payload beside a real value does not widen it.
            let mut values = vec![json!(real)];
            if *list {
                values.push(json!("' OR 1=1 --"));
            }
            let value = if *list { json!(values) } else { json!(real) };
            let (status, body) =
                post(&app, &token, &query, json!({ "f": { *field: value } })).await;
            assert_handled(status, &body, &format!("{connection}.{field} control"));
            assert_eq!(body["data"][*connection]["totalCount"], 1, "{body}");
        }
        for payload in payloads() {
            let value = if *list {
                json!([payload])
            } else {
                json!(payload)
            };
            let what = format!("{role} {connection}.{field} = {payload:.30?}");
            let (status, body) =
                post(&app, &token, &query, json!({ "f": { *field: value } })).await;
            assert_handled(status, &body, &what);
            if body["errors"].is_null() {
                assert_eq!(body["data"][*connection]["totalCount"], 0, "{what}: {body}");
            } else {
                assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{what}: {body}");
            }
        }
    }

    // The same payloads in the aggregate-only paths. An aggregate-only role may filter only on a
    // dimension it groups by, so each payload filters a grouped dimension: validation accepts it and
    // it reaches the SQL, where it must be a value like any other.
    // (role, stats query, filter type, filter field, dimension, a real value that matches)
    let stats: &[(Role, &str, &str, &str, &str, &str)] = &[
        (
            Role::Cbp,
            "traceStats",
            "TraceFilter",
            "manufacturer",
            "MANUFACTURER",
            "Glock",
        ),
        (
            Role::Cbp,
            "traceStats",
            "TraceFilter",
            "recoveryState",
            "RECOVERY_STATE",
            "MX-SON",
        ),
        (
            Role::State,
            "seizureStats",
            "SeizureFilter",
            "portOfEntry",
            "PORT_OF_ENTRY",
            "Nogales",
        ),
        (
            Role::Ice,
            "fundingStats",
            "FundingFilter",
            "program",
            "PROGRAM",
            "Firearms Trafficking Capacity",
        ),
        (
            Role::Oversight,
            "trainingStats",
            "TrainingFilter",
            "mexicanState",
            "MEXICAN_STATE",
            "MX-SON",
        ),
    ];
    for (role, root, input, field, dimension, real) in stats {
        let token = app.as_role(*role).token().to_owned();
        let query = format!(
            "query($f: {input}) {{ {root}(filter: $f, groupBy: [{dimension}]) {{ total buckets {{ count suppressed }} }} }}"
        );
        // Control: the real value selects its one cell (which a protected answer may leave out
        // when perturbed to zero), and a payload beside it adds none.
        let mut control = None;
        for values in [json!([real]), json!([real, "' OR '1'='1"])] {
            let what = format!("{role} {root}.{field} = {values}");
            let (status, body) =
                post(&app, &token, &query, json!({ "f": { *field: values } })).await;
            assert_handled(status, &body, &what);
            assert!(body["errors"].is_null(), "{what}: {body}");
            assert!(
                body["data"][*root]["buckets"].as_array().map(Vec::len) <= Some(1),
                "{what}: {body}"
            );
            let first = control.get_or_insert_with(|| body.clone());
            assert_eq!(first, &body, "{what}");
        }
        for payload in payloads() {
            let what = format!("{role} {root}.{field} = {payload:.30?}");
            let (status, body) =
                post(&app, &token, &query, json!({ "f": { *field: [payload] } })).await;
            assert_handled(status, &body, &what);
            if payload.contains('\u{0}') {
                // Refused before execution: PostgreSQL cannot store or compare NUL.
                assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{what}: {body}");
                continue;
            }
            assert!(
                body["errors"].is_null(),
                "{what}: accepted by validation, answered by SQL: {body}"
            );
            assert_eq!(
                body["data"][*root]["buckets"],
                json!([]),
                "{what}: the payload is a value that matches nothing: {body}"
            );
        }
    }

    // And in the audit trail.
    let oversight = app.as_role(Role::Oversight).token().to_owned();
    for payload in payloads() {
        for filter in [
            json!({ "subject": payload }),
            json!({ "outcome": [payload] }),
            json!({ "subject": payload, "outcome": ["ok", payload] }),
        ] {
            let (status, body) = post(
                &app,
                &oversight,
                "query($f: AuditFilter) { auditEvents(filter: $f, first: 50) { totalCount nodes { subject outcome } } }",
                json!({ "f": filter }),
            )
            .await;
            let what = format!("auditEvents {filter:.60}");
            assert_handled(status, &body, &what);
            if body["errors"].is_null() {
                assert_eq!(
                    body["data"]["auditEvents"]["totalCount"], 0,
                    "{what}: {body}"
                );
            } else {
                assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{what}: {body}");
            }
        }
    }
    assert_eq!(row_counts(&app).await, before, "no filter wrote anything");
    assert_alive(&app).await;
}

#[tokio::test]
async fn sort_arguments_outside_the_enums_are_validation_errors() {
    let (app, _) = app().await;
    let token = app.as_role(Role::Atf).token().to_owned();
    let inline = [
        "{ traces(orderBy: [{field: PURCHASER_NAME}]) { totalCount } }",
        "{ traces(orderBy: [{field: RECOVERY_DATE, direction: SIDEWAYS}]) { totalCount } }",
        "{ traces(orderBy: [{field: \"RECOVERY_DATE; DROP TABLE trace\"}]) { totalCount } }",
        "{ traces(orderBy: [{field: recovery_date}]) { totalCount } }",
        "{ traces(orderBy: [{field: RECOVERY_DATE, extra: 1}]) { totalCount } }",
        "{ traces(orderBy: \"purchaser_name\") { totalCount } }",
        "{ seizures(orderBy: [{field: CASE_NUMBER}]) { totalCount } }",
        "{ trainings(orderBy: [{field: MEXICAN_AGENCY}]) { totalCount } }",
        "{ fundingAwards(orderBy: [{field: RECIPIENT}]) { totalCount } }",
    ];
    for query in inline {
        let (status, body) = post(&app, &token, query, json!({})).await;
        assert_refused(status, &body, "traces", query);
        assert!(body["data"].is_null(), "{query}: {body}");
    }
    let by_variable = "query($o: [TraceOrder!]) { traces(orderBy: $o) { totalCount } }";
    for order in [
        json!([{ "field": "PURCHASER_NAME" }]),
        json!([{ "field": "trace_number DESC, (SELECT 1)" }]),
        json!([{ "field": "TRACE_NUMBER", "direction": "DESC; --" }]),
        json!([{ "field": null }]),
        json!("TRACE_NUMBER"),
        json!([{ "field": "TRACE_NUMBER", "direction": "ASC", "nulls": "FIRST" }]),
    ] {
        let (status, body) = post(&app, &token, by_variable, json!({ "o": order })).await;
        assert_refused(status, &body, "traces", &order.to_string());
    }
    // Many sort keys, all valid, repeated: answered or refused, never a failure.
    let fields = ["RECOVERY_DATE", "TRACE_NUMBER", "TIME_TO_CRIME_DAYS"];
    let many: Vec<Value> = (0..300)
        .map(|i| {
            let direction = if i % 2 == 0 { "ASC" } else { "DESC" };
            json!({ "field": fields[i % 3], "direction": direction })
        })
        .collect();
    let (status, body) = post(
        &app,
        &token,
        "query($o: [TraceOrder!]) { traces(orderBy: $o) { totalCount nodes { traceNumber } } }",
        json!({ "o": many }),
    )
    .await;
    assert_handled(status, &body, "300 sort keys");
    assert_alive(&app).await;
}

fn nested(kind: &str, levels: usize) -> Value {
    let mut filter = json!({ "recoveryState": ["MX-SON"] });
    for i in 0..levels {
        filter = match (kind, i % 3) {
            ("and", _) => json!({ "and": [filter] }),
            ("or", _) => json!({ "or": [filter] }),
            ("not", _) => json!({ "not": filter }),
            (_, 0) => json!({ "and": [filter, { "year": { "min": 2000 } }] }),
            (_, 1) => json!({ "or": [filter, { "recoveryState": ["MX-TAM"] }] }),
            _ => json!({ "not": filter }),
        };
    }
    filter
}

#[tokio::test]
async fn page_sizes_nesting_and_list_lengths_are_bounded() {
    let (app, _) = app().await;
    let token = app.as_role(Role::Atf).token().to_owned();
    let page = "query($n: Int) { traces(first: $n) { totalCount nodes { id } } }";
    for n in [
        json!(1_000_000_000),
        json!(-1),
        json!(i32::MIN),
        json!(i32::MAX),
    ] {
        let (status, body) = post(&app, &token, page, json!({ "n": n })).await;
        assert_refused(status, &body, "traces", &format!("first: {n}"));
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "first: {n}: {body}");
    }
    for n in [
        json!(1e9),
        json!(2_147_483_648_i64),
        json!(1e300),
        json!("10"),
        json!(1.5),
    ] {
        let (status, body) = post(&app, &token, page, json!({ "n": n })).await;
        assert_refused(status, &body, "traces", &format!("first: {n}"));
    }
    // Out of range in the document itself: not an Int (a validation error), or an Int the
    // connection refuses by the argument's name, at its path.
    let oversight = app.as_role(Role::Oversight).token().to_owned();
    for (token, field, query, an_int) in [
        (
            &token,
            "traces",
            "{ traces(first: 1e9) { totalCount } }",
            false,
        ),
        (
            &token,
            "traces",
            "{ traces(first: 99999999999999999999) { totalCount } }",
            false,
        ),
        (
            &token,
            "firearms",
            "{ firearms(first: -5) { totalCount } }",
            true,
        ),
        (
            &oversight,
            "auditEvents",
            "{ auditEvents(first: 100000000) { totalCount } }",
            true,
        ),
        (
            &token,
            "seizures",
            "{ seizures(first: 101) { totalCount } }",
            true,
        ),
    ] {
        let (status, body) = post(&app, token, query, json!({})).await;
        assert_refused(status, &body, field, query);
        if an_int {
            assert_eq!(body["errors"][0]["path"], json!([field]), "{query}: {body}");
            assert_eq!(
                body["errors"][0]["extensions"]["field"], "first",
                "{query}: {body}"
            );
        }
    }

    // Six levels of and/or/not are served; a seventh and beyond are refused.
    let filtered = "query($f: TraceFilter) { traces(filter: $f) { totalCount } }";
    for kind in ["and", "or", "not", "mixed"] {
        let (status, body) = post(&app, &token, filtered, json!({ "f": nested(kind, 6) })).await;
        assert_handled(status, &body, &format!("{kind} x6"));
        assert!(body["errors"].is_null(), "{kind} x6: {body}");
        for levels in [7, 30, 200] {
            let (status, body) =
                post(&app, &token, filtered, json!({ "f": nested(kind, levels) })).await;
            assert_refused(status, &body, "traces", &format!("{kind} x{levels}"));
        }
    }

    // Filter lists: 200 values are served, 201 refused, in every string list of every entity.
    let lists: &[(Role, &str, &str, &str)] = &[
        (Role::Atf, "traces", "TraceFilter", "recoveryState"),
        (Role::Atf, "traces", "TraceFilter", "purchaseState"),
        (Role::Atf, "traces", "TraceFilter", "caliber"),
        (Role::Atf, "traces", "TraceFilter", "manufacturer"),
        (Role::Atf, "traces", "TraceFilter", "and"),
        (Role::Atf, "traces", "TraceFilter", "or"),
        (Role::Cbp, "seizures", "SeizureFilter", "usState"),
        (Role::Cbp, "seizures", "SeizureFilter", "portOfEntry"),
        (Role::Cbp, "seizures", "SeizureFilter", "operation"),
        (Role::State, "trainings", "TrainingFilter", "mexicanState"),
        (Role::State, "fundingAwards", "FundingFilter", "program"),
        (Role::Oversight, "auditEvents", "AuditFilter", "outcome"),
    ];
    for (role, connection, input, field) in lists {
        let token = app.as_role(*role).token().to_owned();
        let query = format!("query($f: {input}) {{ {connection}(filter: $f) {{ totalCount }} }}");
        let values = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| {
                    if matches!(*field, "and" | "or") {
                        json!({ "recoveryState": [format!("MX-{i}")] })
                    } else {
                        json!(format!("V{i}"))
                    }
                })
                .collect()
        };
        let (status, body) = post(
            &app,
            &token,
            &query,
            json!({ "f": { *field: values(200) } }),
        )
        .await;
        assert_handled(status, &body, &format!("{connection}.{field} x200"));
        assert!(
            body["errors"].is_null(),
            "{connection}.{field} x200: {body}"
        );
        let (status, body) = post(
            &app,
            &token,
            &query,
            json!({ "f": { *field: values(201) } }),
        )
        .await;
        assert_refused(
            status,
            &body,
            connection,
            &format!("{connection}.{field} x201"),
        );
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    }

    // Bind-parameter bomb: 150 alternatives of 200 values each is 30,000 parameters in one
    // statement, within every list bound and the body limit. Answered or refused, never INTERNAL.
    let values: Vec<String> = (0..200).map(|i| format!("{i}")).collect();
    let bomb: Vec<Value> = (0..150)
        .map(|_| json!({ "recoveryState": values }))
        .collect();
    let (status, body) = post(&app, &token, filtered, json!({ "f": { "or": bomb } })).await;
    assert_handled(status, &body, "30,000 parameters");
    assert_alive(&app).await;
}

#[tokio::test]
async fn unicode_nul_bytes_and_long_strings_in_writes_are_refused_or_stored_verbatim() {
    let (app, _) = app().await;
    let atf = app.as_role(Role::Atf);
    let token = atf.token().to_owned();
    let create = "mutation($input: TraceInput!) { createTrace(input: $input) { traceNumber recoveryMunicipality } }";
    let input = |number: &str, municipality: &str| {
        json!({
            "traceNumber": number,
            "requestingAgency": "FGR",
            "recoveryDate": "2021-04-02",
            "recoveryState": "MX-CHH",
            "recoveryMunicipality": municipality,
            "status": "PENDING",
            "sourceClass": "UNDETERMINED",
            "firearm": { "manufacturer": "Glock", "type": "PISTOL" }
        })
    };
    let before = app.db.scalar("SELECT COUNT(*) FROM trace").await;
    let mut stored = 0;
    let cases = [
        ("H-NUL", "Ciudad\u{0}Juárez".to_owned()),
        ("H-RTL", "\u{202E}zeráuJ".to_owned()),
        ("H-EMOJI", "Juárez 🔫 𝔐𝔛".to_owned()),
        ("H-LONG", "x".repeat(200_000)),
        ("H-QUOTE", "'); DELETE FROM trace; --".to_owned()),
        ("H\u{0}NUL", "Juárez".to_owned()),
        (&"T".repeat(5_000), "Juárez".to_owned()),
    ];
    for (number, municipality) in &cases {
        let (status, body) = post(
            &app,
            &token,
            create,
            json!({ "input": input(number, municipality) }),
        )
        .await;
        let what = format!("createTrace {number:.20?} / {municipality:.20?}");
        if status == 413 {
            continue; // the body limit refused it before any work
        }
        assert_handled(status, &body, &what);
        if body["errors"].is_null() {
            stored += 1;
            assert_eq!(
                body["data"]["createTrace"]["traceNumber"], *number,
                "{what}"
            );
            assert_eq!(
                body["data"]["createTrace"]["recoveryMunicipality"], *municipality,
                "{what}: stored verbatim"
            );
        } else {
            assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{what}: {body}");
        }
    }
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM trace").await,
        before + stored,
        "exactly the acknowledged writes are stored"
    );
    // The quote payload did not delete anything: the fixture traces are still there.
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM trace WHERE trace_number IN ('T-1', 'T-2')")
            .await,
        2
    );
    assert_alive(&app).await;
}

#[tokio::test]
async fn stats_over_an_empty_selection_answer_zero_not_an_internal_error() {
    let (app, _) = app().await;
    for role in [
        Role::Atf,
        Role::Ice,
        Role::Cbp,
        Role::State,
        Role::Oversight,
    ] {
        let token = app.as_role(role).token().to_owned();
        let (status, body) = post(
            &app,
            &token,
            "query($f: TraceFilter) { traceStats(filter: $f, groupBy: []) { total suppressed buckets { count } } }",
            json!({ "f": { "caliber": ["no such caliber"] } }),
        )
        .await;
        assert_handled(status, &body, &format!("{role} traceStats over nothing"));
    }
    assert_alive(&app).await;
}
