//! Identity: every data request needs a valid token; a missing, malformed, expired, wrongly signed
//! or wrongly addressed one gets UNAUTHENTICATED and no data.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::Role;
use firearms_hub::config::PublicKeySetting;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TEST_DEV_SECRET, TestApp, error_codes, spawn_app_with};

const QUERY: &str = r#"{"query":"{ traces { totalCount nodes { traceNumber } } }"}"#;

fn key(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

async fn app() -> TestApp {
    let app = spawn_app_with(|s| {
        s.auth.public_keys = vec![PublicKeySetting {
            kid: "rsa-a".into(),
            algorithm: "RS256".into(),
            pem_file: key("test-only-rsa-a.public.pem"),
        }];
    })
    .await;
    fixtures::load(&app.db.db).await;
    app
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(role: &str) -> Value {
    json!({
        "iss": "firearms-hub", "aud": "firearms-hub", "sub": "tester", "role": role,
        "iat": now(), "nbf": now() - 10, "exp": now() + 600
    })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encoded")
}

fn rs256(claims: &Value, kid: &str) -> String {
    let pem = std::fs::read(key("test-only-rsa-a.private.pem")).expect("fixture key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(
        &header,
        claims,
        &EncodingKey::from_rsa_pem(&pem).expect("rsa key"),
    )
    .expect("encoded")
}

async fn refused(app: &TestApp, token: Option<&str>, why: &str) {
    let (status, body) = app.post_raw(token, "application/json", QUERY.into()).await;
    assert_eq!(status, 401, "{why}: {body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{why}");
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "{why}: no data may leak: {body}"
    );
}

#[tokio::test]
async fn requests_without_a_valid_token_get_unauthenticated_and_no_data() {
    let app = app().await;
    refused(&app, None, "no token").await;
    refused(&app, Some("not-a-jwt"), "garbage").await;
    refused(
        &app,
        Some(&hs256(
            &claims("ATF"),
            b"a-different-secret-that-is-long-enough-0000",
        )),
        "wrong secret",
    )
    .await;

    let mut expired = claims("ATF");
    expired["exp"] = json!(now() - 3600);
    expired["nbf"] = json!(now() - 7200);
    refused(
        &app,
        Some(&hs256(&expired, TEST_DEV_SECRET.as_bytes())),
        "expired",
    )
    .await;

    let mut early = claims("ATF");
    early["nbf"] = json!(now() + 3600);
    refused(
        &app,
        Some(&hs256(&early, TEST_DEV_SECRET.as_bytes())),
        "not yet valid",
    )
    .await;

    let mut audience = claims("ATF");
    audience["aud"] = json!("another-system");
    refused(
        &app,
        Some(&hs256(&audience, TEST_DEV_SECRET.as_bytes())),
        "wrong audience",
    )
    .await;

    let mut issuer = claims("ATF");
    issuer["iss"] = json!("someone-else");
    refused(
        &app,
        Some(&hs256(&issuer, TEST_DEV_SECRET.as_bytes())),
        "wrong issuer",
    )
    .await;

    refused(
        &app,
        Some(&hs256(&claims("ADMIN"), TEST_DEV_SECRET.as_bytes())),
        "role escalation",
    )
    .await;
    let mut array_role = claims("ATF");
    array_role["role"] = json!(["ATF", "OVERSIGHT"]);
    refused(
        &app,
        Some(&hs256(&array_role, TEST_DEV_SECRET.as_bytes())),
        "several roles",
    )
    .await;
}

#[tokio::test]
async fn unsigned_and_algorithm_confused_tokens_are_refused() {
    let app = app().await;
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims("ATF").to_string());
    refused(&app, Some(&format!("{none_header}.{payload}.")), "alg none").await;

    // HS256 signed with the server's RSA public key as the HMAC secret, naming the RSA key.
    let public_pem = std::fs::read(key("test-only-rsa-a.public.pem")).expect("fixture key");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-a".into());
    let confused = encode(
        &header,
        &claims("ATF"),
        &EncodingKey::from_secret(&public_pem),
    )
    .expect("encoded");
    refused(&app, Some(&confused), "HS/RS confusion").await;

    // A tampered payload keeps the original signature.
    let good = hs256(&claims("ICE"), TEST_DEV_SECRET.as_bytes());
    let parts: Vec<&str> = good.split('.').collect();
    let escalated = URL_SAFE_NO_PAD.encode(claims("ATF").to_string());
    refused(
        &app,
        Some(&format!("{}.{}.{}", parts[0], escalated, parts[2])),
        "tampered",
    )
    .await;

    refused(
        &app,
        Some(&rs256(&claims("ATF"), "unknown-kid")),
        "unknown key id",
    )
    .await;
}

#[tokio::test]
async fn a_production_key_and_a_development_token_both_identify_the_caller() {
    let app = app().await;
    let token = rs256(&claims("ICE"), "rsa-a");
    let (status, body) = app
        .post_raw(
            Some(&token),
            "application/json",
            r#"{"query":"{ me { role subject } }"}"#.into(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"],
        json!({ "role": "ICE", "subject": "tester" })
    );

    let dev = app.as_role(Role::Cbp).run("{ me { role } }").await;
    assert_eq!(dev["data"]["me"]["role"], "CBP");
}

#[tokio::test]
async fn graphiql_and_health_answer_as_configured() {
    let app = app().await;
    let client = &app.client;
    let health = client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status().as_u16(), 200);
    let ready = client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status().as_u16(), 200);
    let graphiql = client
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        graphiql.status().as_u16(),
        401,
        "a GET that is not a browser's asks for GraphQL, not GraphiQL: a token comes first"
    );

    let dev = spawn_app_with(|s| s.server.development = true).await;
    let page = dev
        .client
        .get(format!("{}/graphql", dev.address))
        .header("Accept", "text/html")
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("body").contains("graphiql"));
}

#[tokio::test]
async fn batches_wrong_content_types_and_malformed_json_are_refused_before_any_work() {
    let app = app().await;
    let token = app.as_role(Role::Atf).token().to_owned();
    let (status, body) = app
        .post_raw(
            Some(&token),
            "application/json",
            format!("[{QUERY},{QUERY}]"),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let (status, _) = app.post_raw(Some(&token), "text/plain", QUERY.into()).await;
    assert_eq!(status, 415);
    let (status, body) = app
        .post_raw(Some(&token), "application/json", "{\"query\": ".into())
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = app
        .post_raw(
            Some(&token),
            "application/json",
            format!("{{\"query\":\"{}\"}}", "a".repeat(300 * 1024)),
        )
        .await;
    assert_eq!(status, 413, "an oversized body is refused");
}
