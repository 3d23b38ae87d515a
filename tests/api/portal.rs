//! What a browser gets: the portal at `/`, every file it loads from the hub itself under
//! `/static/` (embedded, with a strong ETag), GraphiQL from the vendored libraries in development
//! mode, the security headers on every response, CORS for the configured origins only, and the
//! development token endpoints, which exist only in development mode.

use std::collections::BTreeMap;

use entity::Role;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const CSP: &str = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' \
                   data:; style-src 'self'; font-src 'self' data:; object-src 'none'; \
                   base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .expect("sent")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn assert_security_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(
        header(headers, "content-security-policy"),
        Some(CSP),
        "{what}"
    );
    assert_eq!(
        header(headers, "x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header(headers, "referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(header(headers, "x-frame-options"), Some("DENY"), "{what}");
}

/// The committed `web/static/vendor/SHA256SUMS`: file name → hash.
fn vendor_sums() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/web/static/vendor/SHA256SUMS"
    ))
    .expect("SHA256SUMS is committed");
    text.lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(hash, name)| (name.to_owned(), hash.to_owned()))
        .collect()
}

#[tokio::test]
async fn the_portal_and_its_files_are_served_from_the_binary() {
    let app = spawn_app().await;

    let index = get(&app, "/").await;
    assert_eq!(index.status().as_u16(), 200);
    assert_eq!(
        header(index.headers(), "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_security_headers(index.headers(), "/");
    let page = index.text().await.expect("body");
    assert!(page.contains("/static/portal/app.js"), "{page}");
    let same = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/web/static/portal/index.html"
    ))
    .expect("the portal page");
    assert_eq!(page, same, "/ is web/static/portal/index.html");

    for (path, content_type) in [
        ("/static/portal/app.js", "text/javascript; charset=utf-8"),
        ("/static/portal/app.css", "text/css; charset=utf-8"),
        ("/static/graphiql/init.js", "text/javascript; charset=utf-8"),
        (
            "/static/vendor/chart.umd.js",
            "text/javascript; charset=utf-8",
        ),
        ("/static/vendor/graphiql.min.css", "text/css; charset=utf-8"),
        (
            "/static/vendor/react.LICENSE.txt",
            "text/plain; charset=utf-8",
        ),
    ] {
        let response = get(&app, path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(
            header(response.headers(), "content-type"),
            Some(content_type),
            "{path}"
        );
        assert_security_headers(response.headers(), path);
    }

    // Unknown files, directories and escapes are 404, with nothing in the body.
    for path in [
        "/static/portal/missing.js",
        "/static/portal/",
        "/static/",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/vendor/..%2f..%2fCargo.toml",
        "/static//vendor/chart.umd.js",
        "/nowhere",
    ] {
        let response = get(&app, path).await;
        assert_eq!(response.status().as_u16(), 404, "{path}");
        assert_security_headers(response.headers(), path);
        assert!(response.bytes().await.expect("body").is_empty(), "{path}");
    }
}

#[tokio::test]
async fn vendored_files_are_the_checked_ones_and_revalidate_with_their_etag() {
    let app = spawn_app().await;
    let sums = vendor_sums();
    for name in [
        "react.production.min.js",
        "react-dom.production.min.js",
        "graphiql.min.js",
        "graphiql.min.css",
        "chart.umd.js",
    ] {
        let expected = sums
            .get(name)
            .unwrap_or_else(|| panic!("{name} is in SHA256SUMS"));
        let path = format!("/static/vendor/{name}");
        let response = get(&app, &path).await;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let etag = header(response.headers(), "etag")
            .expect("an ETag")
            .to_owned();
        assert_eq!(etag, format!("\"{expected}\""), "{path}: a strong ETag");
        assert_eq!(
            header(response.headers(), "cache-control"),
            Some("no-cache")
        );
        let bytes = response.bytes().await.expect("body");
        assert_eq!(
            hex::encode(Sha256::digest(&bytes)),
            *expected,
            "{path}: the served bytes are the checked ones"
        );

        // The browser revalidates: 304 without a body while the file is unchanged.
        let again = app
            .client
            .get(format!("{}{path}", app.address))
            .header("If-None-Match", &etag)
            .send()
            .await
            .expect("sent");
        assert_eq!(again.status().as_u16(), 304, "{path}");
        assert_eq!(header(again.headers(), "etag"), Some(etag.as_str()));
        assert!(again.bytes().await.expect("body").is_empty());

        let stale = app
            .client
            .get(format!("{}{path}", app.address))
            .header("If-None-Match", "\"0000\"")
            .send()
            .await
            .expect("sent");
        assert_eq!(stale.status().as_u16(), 200, "{path}: another ETag");
    }
}

#[tokio::test]
async fn graphiql_loads_everything_from_the_hub_in_development_mode_only() {
    let dev = spawn_app_with(|s| s.server.development = true).await;
    let page = dev
        .client
        .get(format!("{}/graphql", dev.address))
        .header("Accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(
        header(page.headers(), "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_security_headers(page.headers(), "GraphiQL");
    let html = page.text().await.expect("body");
    // Every script and stylesheet is a file of the hub's; no inline script, nothing elsewhere.
    let mut loads = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            loads.push(piece.split('"').next().unwrap_or_default().to_owned());
        }
    }
    for load in &loads {
        assert!(
            load.starts_with("/static/") || load == "data:,",
            "GraphiQL loads {load} from elsewhere"
        );
        if load.starts_with("/static/") {
            let response = get(&dev, load).await;
            assert_eq!(response.status().as_u16(), 200, "{load}");
        }
    }
    for needed in [
        "/static/vendor/react.production.min.js",
        "/static/vendor/react-dom.production.min.js",
        "/static/vendor/graphiql.min.js",
        "/static/vendor/graphiql.min.css",
        "/static/graphiql/init.js",
    ] {
        assert!(loads.iter().any(|l| l == needed), "{needed} in {loads:?}");
    }
    assert!(
        !html.contains("<script>") && !html.contains("<style"),
        "no inline script or style"
    );
    assert!(!html.contains("http://") && !html.contains("https://"));

    let production = spawn_app().await;
    let response = production
        .client
        .get(format!("{}/graphql", production.address))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status().as_u16(),
        404,
        "no GraphiQL outside development"
    );
    // The files themselves are the same in every mode.
    assert_eq!(
        get(&production, "/static/graphiql/init.js")
            .await
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let (status, _) = app
        .post_raw(
            None,
            "application/json",
            json!({"query": "{ me { role } }"}).to_string(),
        )
        .await;
    assert_eq!(status, 401);
    let graphql = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(Role::Ice).token()),
        )
        .header("X-Access-Purpose", "CASE-1 test")
        .body(json!({"query": "{ me { role } }"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(graphql.status().as_u16(), 200);
    assert_security_headers(graphql.headers(), "POST /graphql");
    for path in ["/healthz", "/readyz", "/metrics", "/graphql"] {
        let response = get(&app, path).await;
        assert_security_headers(response.headers(), path);
    }
}

// --- CORS -----------------------------------------------------------------------------------

const PORTAL: &str = "https://portal.example.gov";

async fn cors_app() -> TestApp {
    spawn_app_with(|s| {
        s.server.cors_origins = vec![PORTAL.to_owned(), "http://localhost:3000".to_owned()];
    })
    .await
}

async fn preflight(app: &TestApp, origin: &str, headers: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .expect("sent")
}

fn has_any_cors_header(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|name| name.as_str().starts_with("access-control-"))
}

#[tokio::test]
async fn a_preflight_from_a_listed_origin_is_allowed_and_cached() {
    let app = cors_app().await;
    let response = preflight(
        &app,
        PORTAL,
        "authorization, content-type, x-access-purpose",
    )
    .await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), Some(PORTAL));
    let methods = header(headers, "access-control-allow-methods").expect("methods");
    for method in ["GET", "POST"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(headers, "access-control-allow-headers")
        .expect("headers")
        .to_ascii_lowercase();
    for name in ["authorization", "content-type", "x-access-purpose"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let max_age: u64 = header(headers, "access-control-max-age")
        .and_then(|v| v.parse().ok())
        .expect("Access-Control-Max-Age in seconds");
    assert!(max_age >= 600, "{max_age}");
    assert!(
        header(headers, "vary").is_some_and(|v| v.contains("Origin")),
        "Vary: Origin"
    );
    assert!(
        header(headers, "access-control-allow-credentials").is_none(),
        "bearer tokens, not cookies: no credentials"
    );

    // The other listed origin too, and only for what is allowed.
    let local = preflight(&app, "http://localhost:3000", "authorization").await;
    assert_eq!(
        header(local.headers(), "access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let other_header = preflight(&app, PORTAL, "x-something-else").await;
    assert!(!has_any_cors_header(other_header.headers()));
}

#[tokio::test]
async fn an_origin_not_listed_gets_no_cors_headers() {
    let app = cors_app().await;
    for origin in [
        "https://evil.example",
        "https://portal.example.gov.evil.example",
        "http://portal.example.gov",
        "https://portal.example.gov:8443",
        "null",
    ] {
        let response = preflight(&app, origin, "authorization, content-type").await;
        assert!(
            !has_any_cors_header(response.headers()),
            "{origin}: {:?}",
            response.headers()
        );
        assert!(!response.status().is_success(), "{origin}");

        // An actual request is served as if CORS did not exist: the browser keeps the answer
        // from the page.
        let actual = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("Origin", origin)
            .header("Content-Type", "application/json")
            .header(
                "Authorization",
                format!("Bearer {}", app.as_role(Role::Atf).token()),
            )
            .body(json!({"query": "{ me { role } }"}).to_string())
            .send()
            .await
            .expect("sent");
        assert_eq!(actual.status().as_u16(), 200, "{origin}");
        assert!(!has_any_cors_header(actual.headers()), "{origin}");
        assert!(
            header(actual.headers(), "vary").is_some_and(|v| v.contains("Origin")),
            "{origin}: Vary: Origin"
        );
    }

    // A server with no origins listed answers no other origin at all.
    let closed = spawn_app().await;
    let response = preflight(&closed, PORTAL, "authorization").await;
    assert!(!has_any_cors_header(response.headers()));
}

#[tokio::test]
async fn a_request_from_a_listed_origin_gets_its_origin_echoed() {
    let app = cors_app().await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Origin", PORTAL)
        .header("Content-Type", "application/json")
        .header(
            "Authorization",
            format!("Bearer {}", app.as_role(Role::Ice).token()),
        )
        .body(json!({"query": "{ me { role } }"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(PORTAL)
    );
    assert!(
        header(&headers, "vary").is_some_and(|v| v.contains("Origin")),
        "Vary: Origin"
    );
    let exposed = header(&headers, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("retry-after") && exposed.contains("x-request-id"),
        "{exposed}"
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["me"]["role"], "ICE");

    // A refusal reaches the page too, so it can say why.
    let refused = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Origin", PORTAL)
        .header("Content-Type", "application/json")
        .body(json!({"query": "{ me { role } }"}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(refused.status().as_u16(), 401);
    assert_eq!(
        header(refused.headers(), "access-control-allow-origin"),
        Some(PORTAL)
    );
}

#[tokio::test]
async fn a_wildcard_origin_is_refused_at_start() {
    let db = crate::helpers::TestDb::new().await;
    let mut settings = db.server_settings();
    settings.server.cors_origins = vec!["*".to_owned()];
    let error = firearms_hub::server::Application::build_with(
        settings,
        db.db.clone(),
        std::sync::Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .err()
    .expect("a wildcard is refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("server.cors_origins") && message.contains("wildcard"),
        "{message}"
    );
}

// --- Development tokens ---------------------------------------------------------------------

async fn post_token(app: &TestApp, content_type: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/dev/token", app.address))
        .header("Content-Type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn development_tokens_are_given_on_loopback_in_development_mode() {
    let app = spawn_app_with(|s| s.server.development = true).await;

    let roles: Value = get(&app, "/dev/roles").await.json().await.expect("JSON");
    assert_eq!(
        roles,
        json!({ "roles": ["ATF", "ICE", "CBP", "STATE", "OVERSIGHT"], "scopes": ["pii"] })
    );

    let before = chrono::Utc::now();
    let (status, issued) = post_token(
        &app,
        "application/json",
        r#"{"role":"ATF","scopes":["pii"]}"#,
    )
    .await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["role"], "ATF");
    let expires =
        chrono::DateTime::parse_from_rfc3339(issued["expiresAt"].as_str().expect("expiresAt"))
            .expect("RFC 3339");
    let lifetime = expires.with_timezone(&chrono::Utc) - before;
    assert!(
        lifetime > chrono::Duration::minutes(59) && lifetime <= chrono::Duration::minutes(61),
        "{lifetime}"
    );
    // The token works: the API knows its role and scope.
    let token = issued["token"].as_str().expect("token");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Content-Type", "application/json")
        .header("Authorization", format!("Bearer {token}"))
        .body(json!({"query": "{ me { subject role scopes } }"}).to_string())
        .send()
        .await
        .expect("sent");
    let me: Value = response.json().await.expect("JSON");
    assert_eq!(
        me["data"]["me"],
        json!({ "subject": "dev-atf", "role": "ATF", "scopes": ["pii"] })
    );

    // Scopes are optional.
    let (status, issued) = post_token(&app, "application/json", r#"{"role":"OVERSIGHT"}"#).await;
    assert_eq!(status, 200, "{issued}");
    assert_eq!(issued["role"], "OVERSIGHT");
}

#[tokio::test]
async fn development_tokens_are_refused_through_a_proxy() {
    // A reverse proxy on this machine connects from loopback and may pass the Host through, so
    // only the headers it adds tell its callers apart from a local one.
    let app = spawn_app_with(|s| s.server.development = true).await;
    let forwarded = [
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7"),
        ("X-Forwarded-Host", "127.0.0.1"),
        ("X-Real-IP", "203.0.113.7"),
    ];
    for (name, value) in forwarded {
        let response = app
            .client
            .post(format!("{}/dev/token", app.address))
            .header("Content-Type", "application/json")
            .header(name, value)
            .body(r#"{"role":"ATF"}"#)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 403, "{name}");
        let body: Value = response.json().await.expect("JSON");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(message.contains("proxy"), "{name}: {message}");
        assert!(body.get("token").is_none(), "{name}: {body}");

        let roles = app
            .client
            .get(format!("{}/dev/roles", app.address))
            .header(name, value)
            .send()
            .await
            .expect("sent");
        assert_eq!(roles.status().as_u16(), 403, "{name}");
    }
    // The same request without them is answered.
    let (status, issued) = post_token(&app, "application/json", r#"{"role":"ATF"}"#).await;
    assert_eq!(status, 200, "{issued}");
}

#[tokio::test]
async fn a_bad_development_token_request_is_refused_by_name() {
    let app = spawn_app_with(|s| s.server.development = true).await;
    let cases = [
        (r#"{"role":"ADMIN"}"#, 400, "ADMIN"),
        (r#"{"role":"atf"}"#, 400, "atf"),
        (r#"{"role":"ATF","scopes":["root"]}"#, 400, "root"),
        (r#"{"role":"ATF","ttl":"30d"}"#, 400, "ttl"),
        (r#"{"scopes":["pii"]}"#, 400, "role"),
        ("not json", 400, "body"),
    ];
    for (body, expected, named) in cases {
        let (status, answer) = post_token(&app, "application/json", body).await;
        assert_eq!(status, expected, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{body}: {message}");
        assert!(answer.get("token").is_none());
    }
    let (status, _) = post_token(&app, "text/plain", r#"{"role":"ATF"}"#).await;
    assert_eq!(
        status, 415,
        "JSON only, so another site's form cannot post it"
    );
}

#[tokio::test]
async fn the_development_endpoints_do_not_exist_outside_development_mode() {
    let app = spawn_app().await;
    let unknown = get(&app, "/dev/nothing-here").await;
    let unknown_status = unknown.status().as_u16();
    let unknown_body = unknown.bytes().await.expect("body");
    assert_eq!(unknown_status, 404);

    let roles = get(&app, "/dev/roles").await;
    assert_eq!(roles.status().as_u16(), unknown_status);
    assert_eq!(roles.bytes().await.expect("body"), unknown_body);

    let (status, body) = post_token(&app, "application/json", r#"{"role":"ATF"}"#).await;
    assert_eq!(status, unknown_status, "{body}");
    assert_eq!(
        body,
        Value::String(String::new()),
        "no body, as for any unknown path"
    );
}
