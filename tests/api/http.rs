//! GraphQL over HTTP: queries over `GET` through the same admission as `POST`, 405 for a
//! mutation over `GET`, the response media type by `Accept` (`application/graphql-response+json`
//! with the specification's status codes, `application/json` as before, 406 for neither), and
//! GraphiQL only for a browser. Responses of executed requests are checked by graphql-core, and
//! the documents refused with 400 are refused by graphql-core too.

use std::process::Command;

use entity::Role;
use serde_json::{Value, json};

use crate::conformance::{Case, check, introspection_query, python};
use crate::fixtures;
use crate::helpers::{TestApp, error_codes, spawn_app, spawn_app_with};

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// A query sent with `GET`: status, content type and body as sent.
async fn get(
    app: &TestApp,
    role: Option<Role>,
    accept: Option<&str>,
    params: &[(&str, &str)],
) -> (u16, String, String) {
    let mut request = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(params)
        .header("X-Access-Purpose", "CASE-2026-0001 test");
    if let Some(role) = role {
        let token = app.as_role(role).token().to_owned();
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let content_type = content_type(&response);
    (status, content_type, response.text().await.expect("body"))
}

/// A request sent with `POST`: status, content type and body as sent.
async fn post(
    app: &TestApp,
    role: Role,
    accept: Option<&str>,
    body: Value,
) -> (u16, String, String) {
    let token = app.as_role(role).token().to_owned();
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Access-Purpose", "CASE-2026-0001 test")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let content_type = content_type(&response);
    (status, content_type, response.text().await.expect("body"))
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// How many errors graphql-core finds parsing and validating `query` over the full schema.
fn graphql_core_errors(query: &str) -> usize {
    let script = "import json, sys\n\
        from graphql import build_schema, parse, validate, GraphQLError\n\
        payload = json.load(sys.stdin)\n\
        schema = build_schema(payload['sdl'])\n\
        try:\n    errors = validate(schema, parse(payload['query']))\n\
        except GraphQLError as error:\n    errors = [error]\n\
        print(len(errors))\n";
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("graphql-core runs");
    let payload = json!({ "sdl": firearms_hub::graphql::sdl(), "query": query });
    std::io::Write::write_all(
        &mut child.stdin.take().expect("stdin"),
        payload.to_string().as_bytes(),
    )
    .expect("written");
    let output = child.wait_with_output().expect("finishes");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a count")
}

#[tokio::test]
async fn a_query_over_get_answers_as_over_post_in_both_media_types_and_conforms() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    let ice = app.as_role(Role::Ice);
    let introspection = ice.query_ok(introspection_query()).await["data"].clone();
    let query = "query Traces($first: Int) { traces(first: $first) { totalCount \
                 nodes { id traceNumber purchaserName recoveryState } } me { role } }";
    let variables = json!({ "first": 2 });
    let (_, _, over_post) = post(
        &app,
        Role::Ice,
        None,
        json!({ "query": query, "variables": variables, "operationName": "Traces" }),
    )
    .await;
    let mut cases = Vec::new();
    for accept in [None, Some("application/json"), Some(GRAPHQL_RESPONSE)] {
        let (status, content_type, text) = get(
            &app,
            Some(Role::Ice),
            accept,
            &[
                ("query", query),
                ("variables", &variables.to_string()),
                ("operationName", "Traces"),
            ],
        )
        .await;
        assert_eq!(status, 200, "{accept:?}: {text}");
        let expected = match accept {
            Some(GRAPHQL_RESPONSE) => "application/graphql-response+json; charset=utf-8",
            _ => "application/json",
        };
        assert_eq!(content_type, expected);
        let body = parsed(&text);
        assert_eq!(body, parsed(&over_post), "GET and POST answer alike");
        assert_eq!(
            body["data"]["traces"]["nodes"].as_array().map(Vec::len),
            Some(2)
        );
        // ICE may not read purchasers: a field error, and execution went on.
        assert!(
            error_codes(&body).iter().all(|c| c == "FORBIDDEN"),
            "{body}"
        );
        cases.push(Case {
            name: format!("GET, Accept {accept:?}"),
            introspection: introspection.clone(),
            query: query.to_owned(),
            variables: variables.clone(),
            response: body,
            text,
        });
    }
    let failures = check(&cases);
    assert!(failures.is_empty(), "{failures:?}");
}

#[tokio::test]
async fn a_mutation_over_get_is_405_with_allow_post_and_is_audited_as_refused() {
    let app = spawn_app().await;
    let mutation = "mutation DeleteIt { deleteTrace(id: \"1\") }";
    for accept in [None, Some(GRAPHQL_RESPONSE)] {
        let response = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&[("query", mutation)])
            .header(
                "Authorization",
                format!("Bearer {}", app.as_role(Role::Atf).token()),
            )
            .header("Accept", accept.unwrap_or("*/*"))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 405);
        assert_eq!(
            response
                .headers()
                .get("allow")
                .and_then(|v| v.to_str().ok()),
            Some("POST")
        );
        let body = parsed(&response.text().await.expect("body"));
        assert_eq!(error_codes(&body), ["METHOD_NOT_ALLOWED"], "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
    // The refusal names the operation and its document in the audit trail.
    let hash = firearms_hub::audit::document_hash(mutation);
    let recorded = app
        .db
        .scalar_reaching(
            &format!(
                "SELECT COUNT(*) FROM audit_event WHERE operation = 'DeleteIt' \
                 AND outcome = 'denied' AND document_hash = '{hash}'"
            ),
            2,
        )
        .await;
    assert_eq!(recorded, 2);
    // Over POST the same mutation runs (and finds nothing to delete).
    let (status, _, text) = post(&app, Role::Atf, None, json!({ "query": mutation })).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(error_codes(&parsed(&text)), ["NOT_FOUND"], "{text}");
}

#[tokio::test]
async fn the_graphql_response_media_type_gives_the_specifications_status_codes() {
    let app = spawn_app().await;
    fixtures::load(&app.db.db).await;
    // Requests that fail before execution: 400 with the new media type, no `data`; graphql-core
    // refuses the same documents. With application/json they stay 200, as before.
    let refused = [
        ("{ me { role ", json!({})),
        ("{ me { nosuchfield } }", json!({})),
        (
            "query Q($n: Int!) { traces(first: $n) { totalCount } }",
            json!({ "n": "two" }),
        ),
    ];
    for (query, variables) in &refused {
        if variables.as_object().is_some_and(|v| v.is_empty()) {
            assert!(
                graphql_core_errors(query) > 0,
                "graphql-core accepts {query}"
            );
        }
        let body = json!({ "query": query, "variables": variables });
        let (status, content_type, text) =
            post(&app, Role::Atf, Some(GRAPHQL_RESPONSE), body.clone()).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert_eq!(
            content_type,
            "application/graphql-response+json; charset=utf-8"
        );
        let answer = parsed(&text);
        assert!(answer.get("data").is_none(), "{query}: {answer}");
        assert!(
            !answer["errors"].as_array().is_none_or(Vec::is_empty),
            "{answer}"
        );
        let (status, content_type, text) = post(&app, Role::Atf, None, body).await;
        assert_eq!(status, 200, "{query}: {text}");
        assert_eq!(content_type, "application/json");
        assert!(parsed(&text)["data"].is_null(), "{text}");
    }
    // Execution started: 200 even with field errors (a field the role may not read).
    let (status, _, text) = post(
        &app,
        Role::Ice,
        Some(GRAPHQL_RESPONSE),
        json!({ "query": "{ traces(first: 1) { nodes { purchaserName } } }" }),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let answer = parsed(&text);
    assert_eq!(error_codes(&answer), ["FORBIDDEN"], "{answer}");
    assert!(answer["data"]["traces"].is_object(), "{answer}");
    // A client preferring application/json gets it; one naming both equally gets the new type.
    for (accept, expected) in [
        (
            "application/json, application/graphql-response+json;q=0.5",
            "application/json",
        ),
        (
            "application/graphql-response+json, application/json",
            "application/graphql-response+json; charset=utf-8",
        ),
        ("application/*", "application/json"),
    ] {
        let (status, content_type, _) = post(
            &app,
            Role::Atf,
            Some(accept),
            json!({ "query": "{ me { role } }" }),
        )
        .await;
        assert_eq!((status, content_type.as_str()), (200, expected), "{accept}");
    }
    // No token: 401 in the negotiated media type.
    let (status, content_type, _) = get(
        &app,
        None,
        Some(GRAPHQL_RESPONSE),
        &[("query", "{ me { role } }")],
    )
    .await;
    assert_eq!(status, 401);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
}

#[tokio::test]
async fn an_accept_that_allows_neither_media_type_is_406() {
    let app = spawn_app().await;
    for accept in ["text/plain", "application/xml", "application/json;q=0"] {
        let (status, _, text) = get(
            &app,
            Some(Role::Atf),
            Some(accept),
            &[("query", "{ me { role } }")],
        )
        .await;
        assert_eq!(status, 406, "{accept}: {text}");
        assert_eq!(error_codes(&parsed(&text)), ["NOT_ACCEPTABLE"]);
        let (status, _, _) = post(
            &app,
            Role::Atf,
            Some(accept),
            json!({ "query": "{ me { role } }" }),
        )
        .await;
        assert_eq!(status, 406, "{accept}");
    }
}

#[tokio::test]
async fn graphiql_is_only_for_a_browser_and_a_get_without_a_query_is_a_clear_400() {
    let dev = spawn_app_with(|s| s.server.development = true).await;
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let (status, content_type, page) = get(&dev, None, Some(browser), &[]).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("graphiql"));
    for accept in [Some("application/json"), Some(GRAPHQL_RESPONSE), None] {
        let (status, _, text) = get(&dev, Some(Role::Atf), accept, &[]).await;
        assert_eq!(status, 400, "{accept:?}: {text}");
        let body = parsed(&text);
        assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("no GraphQL document"), "{message}");
    }
    // A browser that sends a query gets its answer, not the page.
    let (status, content_type, text) = get(
        &dev,
        Some(Role::Atf),
        Some(browser),
        &[("query", "{ me { role } }")],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "application/json");
    assert_eq!(parsed(&text)["data"]["me"]["role"], "ATF");
}

#[tokio::test]
async fn get_passes_the_same_admission_as_post() {
    let app = spawn_app_with(|s| {
        s.limits.document_bytes = 200;
        s.limits.rate_per_second = 0.01;
        s.limits.rate_burst = 4;
    })
    .await;
    let me = [("query", "query Me { me { role } }")];
    let (status, _, _) = get(&app, None, None, &me).await;
    assert_eq!(status, 401, "a token is needed");
    let long = format!("{{ me {{ role {} }} }}", "role ".repeat(60));
    let (status, _, text) = get(&app, Some(Role::Cbp), None, &[("query", &long)]).await;
    assert_eq!(status, 400, "{text}");
    assert_eq!(error_codes(&parsed(&text)), ["LIMIT_EXCEEDED"]);
    let (status, _, text) = get(&app, Some(Role::Cbp), None, &[("variables", "[1]"), me[0]]).await;
    assert_eq!(status, 400, "{text}");
    let purpose = app
        .client
        .get(format!("{}/graphql", app.address))
        .query(&me)
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(Role::Cbp).token()),
        )
        .header("X-Access-Purpose", "x")
        .send()
        .await
        .expect("sent");
    assert_eq!(purpose.status().as_u16(), 400, "the purpose is checked");
    let (status, _, text) = get(&app, Some(Role::Cbp), None, &me).await;
    assert_eq!(status, 200, "{text}");
    // The rate is the subject's, whichever the method: the burst of 4 is spent.
    let (status, _, _) = get(&app, Some(Role::Cbp), None, &me).await;
    assert_eq!(status, 429);
    // The query was audited with its purpose, name and document.
    let hash = firearms_hub::audit::document_hash(me[0].1);
    let recorded = app
        .db
        .scalar_reaching(
            &format!(
                "SELECT COUNT(*) FROM audit_event WHERE operation = 'Me' AND outcome = 'ok' \
                 AND purpose = 'CASE-2026-0001 test' AND document_hash = '{hash}'"
            ),
            1,
        )
        .await;
    assert_eq!(recorded, 1);
}
