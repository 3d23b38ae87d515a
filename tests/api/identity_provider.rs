//! Keys from the identity provider and claim mapping: a provider served by the test itself (its
//! JWKS, its OIDC discovery document), rotated, broken and stopped while the hub runs.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use firearms_hub::config::Settings;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestDb, error_codes, metric, spawn_app_with};

fn key_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

/// A test-only key pair the provider can publish and sign with.
#[derive(Clone, Copy)]
enum KeyPair {
    RsaA,
    RsaB,
    EcA,
}

impl KeyPair {
    fn algorithm(self) -> Algorithm {
        match self {
            KeyPair::RsaA | KeyPair::RsaB => Algorithm::RS256,
            KeyPair::EcA => Algorithm::ES256,
        }
    }

    fn stem(self) -> &'static str {
        match self {
            KeyPair::RsaA => "test-only-rsa-a",
            KeyPair::RsaB => "test-only-rsa-b",
            KeyPair::EcA => "test-only-ec-a",
        }
    }

    /// The public half as a JWK under `kid`.
    fn jwk(self, kid: &str) -> Value {
        let pem = std::fs::read(key_file(&format!("{}.public.pem", self.stem()))).expect("key");
        let decoding = match self.algorithm() {
            Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
            _ => DecodingKey::from_rsa_pem(&pem),
        }
        .expect("public key");
        let mut jwk = Jwk::from_decoding_key(&decoding, Some(self.algorithm())).expect("jwk");
        jwk.common.key_id = Some(kid.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        serde_json::to_value(jwk).expect("json")
    }

    /// A token of these claims signed with the private half, naming `kid`.
    fn sign(self, kid: &str, claims: &Value) -> String {
        let pem = std::fs::read(key_file(&format!("{}.private.pem", self.stem()))).expect("key");
        let encoding = match self.algorithm() {
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_rsa_pem(&pem),
        }
        .expect("private key");
        let mut header = Header::new(self.algorithm());
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &encoding).expect("signed")
    }
}

/// What the provider answers at its JWKS address.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Keys,
    /// 200 with a page that is not a key set.
    Garbage,
    /// 200 with the key set padded past the hub's size bound (256 KiB).
    Huge,
    /// 503.
    Error,
}

struct ProviderState {
    address: String,
    keys: Vec<Value>,
    answer: Answer,
    cache_control: Option<String>,
    /// The `issuer` its discovery documents name; `None`: the address they were asked at.
    issuer: Option<String>,
    /// How long the provider takes to answer at its JWKS address.
    delay: Duration,
    jwks_hits: usize,
    discovery_hits: usize,
}

/// An identity provider in the test: `GET /jwks`, and a discovery document under any issuer
/// path (`{path}/.well-known/openid-configuration`) naming `/jwks`.
struct Provider {
    address: String,
    state: Arc<Mutex<ProviderState>>,
    handle: ServerHandle,
}

impl Provider {
    async fn start(keys: Vec<Value>) -> Provider {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("provider binds");
        let address = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("address").port()
        );
        let state = Arc::new(Mutex::new(ProviderState {
            address: address.clone(),
            keys,
            answer: Answer::Keys,
            cache_control: None,
            issuer: None,
            delay: Duration::ZERO,
            jwks_hits: 0,
            discovery_hits: 0,
        }));
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(provider_answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("provider listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Provider {
            address,
            state,
            handle,
        }
    }

    fn with<T>(&self, change: impl FnOnce(&mut ProviderState) -> T) -> T {
        change(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn publish(&self, keys: Vec<Value>) {
        self.with(|state| state.keys = keys);
    }

    fn jwks_hits(&self) -> usize {
        self.with(|state| state.jwks_hits)
    }

    fn jwks_url(&self) -> String {
        format!("{}/jwks", self.address)
    }

    /// Stops answering: connections are refused from now on.
    async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn provider_answer(
    req: HttpRequest,
    state: web::Data<Arc<Mutex<ProviderState>>>,
) -> HttpResponse {
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    let delay = lock().delay;
    if req.path() == "/jwks" && !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut state = lock();
    let path = req.path();
    if let Some(issuer_path) = path.strip_suffix("/.well-known/openid-configuration") {
        state.discovery_hits += 1;
        let issuer = state
            .issuer
            .clone()
            .unwrap_or_else(|| format!("{}{issuer_path}", state.address));
        return HttpResponse::Ok().json(json!({
            "issuer": issuer,
            "jwks_uri": format!("{}/jwks", state.address),
            "authorization_endpoint": format!("{}/authorize", state.address),
            "token_endpoint": format!("{}/token", state.address),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        }));
    }
    if path != "/jwks" {
        return HttpResponse::NotFound().finish();
    }
    state.jwks_hits += 1;
    match state.answer {
        Answer::Keys => {
            let mut response = HttpResponse::Ok();
            if let Some(cache_control) = &state.cache_control {
                response.insert_header(("Cache-Control", cache_control.clone()));
            }
            response.json(json!({ "keys": state.keys }))
        }
        Answer::Huge => HttpResponse::Ok().json(json!({
            "keys": state.keys,
            "padding": "x".repeat(300 * 1024),
        })),
        Answer::Garbage => HttpResponse::Ok()
            .content_type("text/html")
            .body("<html><body>Sign in</body></html>"),
        Answer::Error => HttpResponse::ServiceUnavailable().finish(),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The issuer of the provider served at a JWKS address (`auth.issuer` of those hubs).
const PROVIDER_ISSUER: &str = "https://idp.example.gov/realms/firearms";

/// A provider's access token for the hub (no `nbf`, as Keycloak and Okta send them).
fn claims(role: &str) -> Value {
    json!({
        "iss": PROVIDER_ISSUER, "aud": "firearms-hub", "sub": "system-7", "role": role,
        "iat": now(), "exp": now() + 600
    })
}

/// The hub over a fresh database, taking keys from the provider `adjust` names (refetches at most
/// once a second, no scheduled refresh within a test). With `auth.jwks_url`, `auth.issuer` is
/// [`PROVIDER_ISSUER`] unless `adjust` sets it.
async fn hub(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.auth.jwks_min_refetch_secs = 1;
        s.auth.jwks_refresh_secs = 3600;
        s.auth.jwks_stale_secs = 7200;
        adjust(s);
        if s.auth.jwks_url.is_some() && s.auth.issuer == "firearms-hub" {
            s.auth.issuer = PROVIDER_ISSUER.to_owned();
        }
    })
    .await
}

/// Who the token says the caller is (`me`), or the refusal.
async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    app.post_raw(
        Some(token),
        "application/json",
        r#"{"query":"{ me { role subject scopes } }"}"#.into(),
    )
    .await
}

async fn accepted(app: &TestApp, token: &str, role: &str) {
    let (status, body) = me(app, token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["role"], role, "{body}");
}

/// Refused with 401 UNAUTHENTICATED and no data; returns the message.
async fn refused(app: &TestApp, token: &str) -> String {
    let (status, body) = me(app, token).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn readyz(app: &TestApp) -> (u16, Value) {
    let response = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    (status, response.json().await.expect("readyz json"))
}

/// Waits (five seconds at most) until `/readyz` answers as `done` says; returns its last answer.
async fn readyz_until(app: &TestApp, done: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let mut answer = readyz(app).await;
    for _ in 0..100 {
        if done(answer.0, &answer.1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = readyz(app).await;
    }
    answer
}

async fn ready(app: &TestApp) {
    let (status, body) = readyz_until(app, |status, _| status == 200).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready", "{body}");
}

/// Waits (a little more than the hub's one-second refetch interval) so that a token with an
/// unknown `kid` may make the hub fetch again.
async fn past_the_refetch_interval() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn tokens_verify_against_the_providers_keys_and_rotation_needs_no_restart() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("2026-01")]).await;
    let app = hub(|s| s.auth.jwks_url = Some(provider.jwks_url())).await;
    ready(&app).await;
    assert_eq!(provider.jwks_hits(), 1, "fetched once at start");
    let old = KeyPair::RsaA.sign("2026-01", &claims("ICE"));
    accepted(&app, &old, "ICE").await;
    assert_eq!(provider.jwks_hits(), 1, "a known key needs no fetch");

    // The provider adds a key (an ES256 one): a token naming it makes the hub fetch again.
    provider.publish(vec![
        KeyPair::RsaA.jwk("2026-01"),
        KeyPair::EcA.jwk("2026-02"),
    ]);
    past_the_refetch_interval().await;
    let new = KeyPair::EcA.sign("2026-02", &claims("CBP"));
    accepted(&app, &new, "CBP").await;
    assert_eq!(provider.jwks_hits(), 2);
    accepted(&app, &old, "ICE").await;

    // Pinned per key: the new kid with an RS256 signature is refused.
    let confused = KeyPair::RsaA.sign("2026-02", &claims("CBP"));
    assert!(refused(&app, &confused).await.contains("algorithm"));

    // The provider removes the old key; it stops verifying once the hub fetches again.
    provider.publish(vec![KeyPair::EcA.jwk("2026-02")]);
    past_the_refetch_interval().await;
    let unknown = KeyPair::RsaB.sign("2026-03", &claims("ATF"));
    let message = refused(&app, &unknown).await;
    assert!(message.contains("signing key"), "{message}");
    assert_eq!(provider.jwks_hits(), 3);
    let message = refused(&app, &old).await;
    assert!(message.contains("signing key"), "{message}");
    accepted(&app, &new, "CBP").await;
    // Other keys, wrong signatures and claims are still checked.
    let forged = KeyPair::RsaB.sign("2026-02", &claims("ATF"));
    refused(&app, &forged).await;
    let mut expired = claims("CBP");
    expired["exp"] = json!(now() - 3600);
    refused(&app, &KeyPair::EcA.sign("2026-02", &expired)).await;
    let mut elsewhere = claims("CBP");
    elsewhere["aud"] = json!("another-api");
    refused(&app, &KeyPair::EcA.sign("2026-02", &elsewhere)).await;
    let mut early = claims("CBP");
    early["nbf"] = json!(now() + 3600);
    refused(&app, &KeyPair::EcA.sign("2026-02", &early)).await;
}

#[tokio::test]
async fn a_scheduled_refresh_follows_the_providers_cache_control() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("old"), KeyPair::RsaB.jwk("new")]).await;
    provider.with(|state| state.cache_control = Some("public, max-age=1".to_owned()));
    let app = hub(|s| s.auth.jwks_url = Some(provider.jwks_url())).await;
    ready(&app).await;
    let old = KeyPair::RsaA.sign("old", &claims("STATE"));
    accepted(&app, &old, "STATE").await;
    // No token names an unknown key: the refresh that max-age=1 asks for (not the hour of
    // auth.jwks_refresh_secs) drops the removed key.
    provider.publish(vec![KeyPair::RsaB.jwk("new")]);
    let hits = provider.jwks_hits();
    for _ in 0..40 {
        if provider.jwks_hits() > hits {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(provider.jwks_hits() > hits, "refreshed after max-age");
    // The removal is in force once the fetch is installed.
    let mut message = String::new();
    for _ in 0..20 {
        let (status, body) = me(&app, &old).await;
        if status == 401 {
            message = body.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(message.contains("signing key"), "{message}");
    accepted(&app, &KeyPair::RsaB.sign("new", &claims("STATE")), "STATE").await;
}

#[tokio::test]
async fn oidc_discovery_finds_the_key_set_and_must_name_the_configured_issuer() {
    let provider = Provider::start(vec![KeyPair::RsaB.jwk("kc-1")]).await;
    let issuer = format!("{}/realms/firearms", provider.address);
    let app = hub(|s| s.auth.oidc_issuer = Some(issuer.clone())).await;
    ready(&app).await;
    assert_eq!(provider.with(|state| state.discovery_hits), 1);
    assert_eq!(provider.jwks_hits(), 1);
    // `auth.issuer` follows the OIDC issuer.
    let mut token_claims = claims("OVERSIGHT");
    token_claims["iss"] = json!(issuer);
    accepted(
        &app,
        &KeyPair::RsaB.sign("kc-1", &token_claims),
        "OVERSIGHT",
    )
    .await;
    let hub_issuer = KeyPair::RsaB.sign("kc-1", &claims("OVERSIGHT"));
    assert!(refused(&app, &hub_issuer).await.contains("issuer"));

    // A discovery document naming another issuer is not followed.
    provider.with(|state| state.issuer = Some(format!("{}/realms/other", state.address)));
    let misled = hub(|s| s.auth.oidc_issuer = Some(issuer.clone())).await;
    let (status, body) = readyz_until(&misled, |_, body| {
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("invalid"))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready", "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("no signing keys")),
        "{body}"
    );
    refused(&misled, &KeyPair::RsaB.sign("kc-1", &token_claims)).await;
}

#[tokio::test]
async fn the_last_good_key_set_outlives_a_broken_or_unreachable_provider() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    let source = provider.jwks_url();
    let app = hub(|s| s.auth.jwks_url = Some(source.clone())).await;
    ready(&app).await;
    let token = KeyPair::RsaA.sign("k1", &claims("ATF"));
    let ok = [("source", source.as_str()), ("outcome", "ok")];
    assert_eq!(metric(&app, "hub_jwks_fetches_total", &ok).await, Some(1.0));
    assert_eq!(metric(&app, "hub_jwks_last_fetch", &ok).await, Some(1.0));
    assert_eq!(
        metric(&app, "hub_jwks_keys", &[("source", source.as_str())]).await,
        Some(1.0)
    );
    let age = metric(&app, "hub_jwks_age_seconds", &[("source", source.as_str())]).await;
    assert!(age.is_some_and(|age| (0.0..5.0).contains(&age)), "{age:?}");

    for (answer, outcome, failures) in [
        (Some(Answer::Garbage), "invalid", 1.0),
        (Some(Answer::Huge), "invalid", 2.0),
        (Some(Answer::Error), "http_error", 1.0),
        (None, "unreachable", 1.0),
    ] {
        match answer {
            Some(answer) => provider.with(|state| state.answer = answer),
            None => provider.stop().await,
        }
        // A token with an unknown kid makes the hub fetch; the fetch fails.
        past_the_refetch_interval().await;
        refused(&app, &KeyPair::RsaB.sign("k2", &claims("ATF"))).await;
        let (status, body) = readyz(&app).await;
        assert_eq!(status, 200, "{outcome}: {body}");
        assert_eq!(body["status"], "degraded", "{outcome}: {body}");
        let reason = body["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains(&format!("last fetch: {outcome}")),
            "{reason}"
        );
        // The last good key set still verifies.
        accepted(&app, &token, "ATF").await;
        let failed = [("source", source.as_str()), ("outcome", outcome)];
        assert_eq!(
            metric(&app, "hub_jwks_fetches_total", &failed).await,
            Some(failures),
            "{outcome}"
        );
        assert_eq!(
            metric(&app, "hub_jwks_last_fetch", &failed).await,
            Some(1.0)
        );
        assert_eq!(metric(&app, "hub_jwks_last_fetch", &ok).await, Some(0.0));
        assert_eq!(
            metric(&app, "hub_jwks_keys", &[("source", source.as_str())]).await,
            Some(1.0)
        );
    }
    assert_eq!(metric(&app, "hub_jwks_fetches_total", &ok).await, Some(1.0));
}

#[tokio::test]
async fn a_stale_key_set_makes_the_hub_not_ready_but_still_verifies() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    let app = spawn_app_with(|s| {
        s.auth.jwks_url = Some(provider.jwks_url());
        s.auth.issuer = PROVIDER_ISSUER.to_owned();
        s.auth.jwks_min_refetch_secs = 1;
        s.auth.jwks_refresh_secs = 1;
        s.auth.jwks_stale_secs = 2;
    })
    .await;
    ready(&app).await;
    provider.stop().await;
    let (status, body) = readyz_until(&app, |status, _| status == 503).await;
    assert_eq!(status, 503, "{body}");
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("auth.jwks_stale_secs") && reason.contains("unreachable"),
        "{reason}"
    );
    accepted(&app, &KeyPair::RsaA.sign("k1", &claims("ICE")), "ICE").await;
}

#[tokio::test]
async fn without_any_key_set_fetched_the_hub_is_not_ready_and_refuses_provider_tokens() {
    // A port nothing listens on.
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    provider.stop().await;
    let source = provider.jwks_url();
    let app = hub(|s| s.auth.jwks_url = Some(source.clone())).await;
    let (status, body) = readyz_until(&app, |_, body| {
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("unreachable"))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("no signing keys")),
        "{body}"
    );
    refused(&app, &KeyPair::RsaA.sign("k1", &claims("ICE"))).await;
    assert_eq!(
        metric(&app, "hub_jwks_age_seconds", &[("source", source.as_str())]).await,
        Some(-1.0)
    );
    assert_eq!(
        metric(&app, "hub_jwks_keys", &[("source", source.as_str())]).await,
        Some(0.0)
    );
}

#[tokio::test]
async fn unknown_kid_refetches_are_rate_limited() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    let app = hub(|s| {
        s.auth.jwks_url = Some(provider.jwks_url());
        s.auth.jwks_min_refetch_secs = 2;
    })
    .await;
    ready(&app).await;
    assert_eq!(provider.jwks_hits(), 1);
    let made_up = |n: usize| KeyPair::RsaB.sign(&format!("made-up-{n}"), &claims("ATF"));
    // Within two seconds of the fetch at start: no fetch at all.
    for n in 0..5 {
        refused(&app, &made_up(n)).await;
    }
    assert_eq!(provider.jwks_hits(), 1);
    // Then a burst of made-up kids, at once: one fetch between them.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let burst: Vec<String> = (10..30).map(made_up).collect();
    futures_util::future::join_all(burst.iter().map(|token| refused(&app, token))).await;
    assert_eq!(provider.jwks_hits(), 2);
    for n in 30..35 {
        refused(&app, &made_up(n)).await;
    }
    assert_eq!(provider.jwks_hits(), 2);
    // A real new key is also refused until the interval has passed, then verifies.
    provider.publish(vec![KeyPair::RsaA.jwk("k1"), KeyPair::RsaB.jwk("k2")]);
    let real = KeyPair::RsaB.sign("k2", &claims("ATF"));
    refused(&app, &real).await;
    assert_eq!(provider.jwks_hits(), 2);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    accepted(&app, &real, "ATF").await;
    assert_eq!(provider.jwks_hits(), 3);
}

#[tokio::test]
async fn requests_meeting_a_new_key_while_it_is_fetched_all_verify_after_one_fetch() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    let app = hub(|s| s.auth.jwks_url = Some(provider.jwks_url())).await;
    ready(&app).await;
    assert_eq!(provider.jwks_hits(), 1);
    // The provider rotates a key in and answers slowly (300 ms): requests signed with it arrive
    // every 20 ms, before, during and after the fetch the first of them causes.
    provider.publish(vec![KeyPair::RsaA.jwk("k1"), KeyPair::RsaB.jwk("k2")]);
    provider.with(|state| state.delay = Duration::from_millis(300));
    past_the_refetch_interval().await;
    let token = KeyPair::RsaB.sign("k2", &claims("ATF"));
    let answers = futures_util::future::join_all((0..24u64).map(|n| {
        let (app, token) = (&app, &token);
        async move {
            tokio::time::sleep(Duration::from_millis(20 * n)).await;
            me(app, token).await
        }
    }))
    .await;
    for (n, (status, body)) in answers.iter().enumerate() {
        assert_eq!(*status, 200, "request {n}: {body}");
        assert_eq!(body["data"]["me"]["role"], "ATF", "request {n}: {body}");
    }
    assert_eq!(provider.jwks_hits(), 2, "one fetch for the whole burst");
}

/// A `serve` process, killed when dropped.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn key_fetches_never_go_through_a_proxy_named_in_the_environment() {
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    // A proxy that counts the connections it gets and answers each with 502 (on a thread of its
    // own: this test blocks its runtime while it reads the hub's output).
    let proxy = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy binds");
    let proxy_url = format!("http://{}", proxy.local_addr().expect("address"));
    let proxied = Arc::new(AtomicUsize::new(0));
    let counter = proxied.clone();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut stream in proxy.incoming().map_while(Result::ok) {
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });

    let db = TestDb::new().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_firearms-hub"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().to_ascii_uppercase();
        if name.starts_with("HUB_") || name.ends_with("_PROXY") {
            command.env_remove(&name);
            command.env_remove(name.to_ascii_lowercase());
        }
    }
    for variable in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] {
        command.env(variable, &proxy_url);
        command.env(variable.to_ascii_lowercase(), &proxy_url);
    }
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0", "--database-url", &db.url])
        .current_dir(dir.path())
        .env("HUB_AUTH_DEV_SECRET", crate::helpers::TEST_DEV_SECRET)
        .env("HUB_AUTH_JWKS_URL", provider.jwks_url())
        .env("HUB_AUTH_ISSUER", PROVIDER_ISSUER)
        .env("HUB_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let stderr = child.stderr.take().expect("stderr");
    let _serve = Serve(child);
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut log = Vec::new();
    let base = loop {
        match lines_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => match line.split_once(" on http://") {
                Some((_, at)) if line.contains("serving") => {
                    break format!("http://{}", at.trim().trim_end_matches("/graphql"));
                }
                _ => log.push(line),
            },
            Err(error) => panic!("serve printed no address ({error}): {log:#?}"),
        }
    };
    // The key set was fetched from the provider itself before serve printed its address.
    assert_eq!(
        proxied.load(Ordering::SeqCst),
        0,
        "a key fetch went through the proxy"
    );
    assert_eq!(provider.jwks_hits(), 1, "{log:#?}");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let response = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("readyz json");
    assert_eq!((status, &body["status"]), (200, &json!("ready")), "{body}");
    let token = KeyPair::RsaA.sign("k1", &claims("ICE"));
    let body: Value = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ me { role } }" }))
        .send()
        .await
        .expect("graphql")
        .json()
        .await
        .expect("graphql json");
    assert_eq!(body["data"]["me"]["role"], "ICE", "{body}");
    assert_eq!(proxied.load(Ordering::SeqCst), 0);
}

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

/// A provider serving `keys` over HTTPS with the test-only certificate for 127.0.0.1 (issued by
/// the test-only authority): its key set address, and how many requests completed a TLS
/// handshake and were answered.
async fn https_provider(keys: Vec<Value>) -> (String, Arc<AtomicUsize>) {
    let body = json!({ "keys": keys }).to_string();
    let (origin, answered) = https_server(move |_, _| (200, Vec::new(), body.clone())).await;
    (format!("{origin}/jwks"), answered)
}

/// An HTTPS server with the test-only certificate for 127.0.0.1 that answers each request with
/// what `answer` makes of its path and the server's own origin (a status, headers and a JSON
/// body): its origin (`https://127.0.0.1:port`), and how many requests completed a TLS handshake
/// and were answered.
async fn https_server(
    answer: impl Fn(&str, &str) -> (u16, Vec<(&'static str, String)>, String) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let chain = CertificateDer::pem_file_iter(tls_file("test-only-localhost.pem"))
        .expect("certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(tls_file("test-only-localhost.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let origin = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().expect("address").port()
    );
    let answer = Arc::new(answer);
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let server_origin = origin.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let answer = answer.clone();
            let counter = counter.clone();
            let origin = server_origin.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate ends here.
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                counter.fetch_add(1, Ordering::SeqCst);
                let (status, headers, body) = answer(&path, &origin);
                let mut response = format!(
                    "HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    response.push_str(&format!("{name}: {value}\r\n"));
                }
                response.push_str("\r\n");
                response.push_str(&body);
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (origin, answered)
}

#[tokio::test]
async fn keys_come_over_https_from_a_provider_the_ca_file_vouches_for() {
    let (jwks_url, answered) = https_provider(vec![KeyPair::EcA.jwk("tls-1")]).await;
    let token = KeyPair::EcA.sign("tls-1", &claims("ATF"));

    // Without the agency's authority the provider's certificate is not trusted.
    let untrusting = hub(|s| s.auth.jwks_url = Some(jwks_url.clone())).await;
    let (status, body) = readyz_until(&untrusting, |_, body| {
        body["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("unreachable"))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    refused(&untrusting, &token).await;
    assert_eq!(answered.load(Ordering::SeqCst), 0);

    let trusting = hub(|s| {
        s.auth.jwks_url = Some(jwks_url.clone());
        s.auth.jwks_ca_file = Some(tls_file("test-only-ca.pem"));
    })
    .await;
    ready(&trusting).await;
    accepted(&trusting, &token, "ATF").await;
    assert_eq!(answered.load(Ordering::SeqCst), 1);

    // A CA file that holds no certificate is refused at start, by name.
    let db = TestDb::new().await;
    let mut settings = db.server_settings();
    settings.auth.jwks_url = Some(jwks_url);
    settings.auth.issuer = PROVIDER_ISSUER.to_owned();
    settings.auth.jwks_ca_file = Some(key_file("test-only-jwks.json"));
    let error = firearms_hub::server::Application::build_with(
        settings,
        db.db.clone(),
        Arc::new(firearms_hub::policy::Policy::default_policy()),
    )
    .map(|_| ())
    .map_err(|error| format!("{error:#}"))
    .expect_err("not a CA file");
    assert!(error.contains("auth.jwks_ca_file"), "{error}");
}

#[tokio::test]
async fn an_https_provider_never_leads_the_hub_to_plain_http() {
    // A plain-HTTP provider on loopback, where an HTTPS provider must not send the hub.
    let plain = Provider::start(vec![KeyPair::RsaA.jwk("k1")]).await;
    let plain_jwks = plain.jwks_url();
    let keys = json!({ "keys": [KeyPair::RsaA.jwk("k1")] }).to_string();
    let (origin, _) = https_server(move |path, origin| {
        let discovery = |realm: &str, jwks_uri: &str| {
            json!({ "issuer": format!("{origin}/realms/{realm}"), "jwks_uri": jwks_uri })
                .to_string()
        };
        match path {
            "/jwks" => (200, Vec::new(), keys.clone()),
            "/moved" => (
                302,
                vec![("Location", format!("{origin}/jwks"))],
                "{}".into(),
            ),
            "/moved-to-http" => (302, vec![("Location", plain_jwks.clone())], "{}".into()),
            "/realms/good/.well-known/openid-configuration" => (
                200,
                Vec::new(),
                discovery("good", &format!("{origin}/jwks")),
            ),
            "/realms/plain/.well-known/openid-configuration" => {
                (200, Vec::new(), discovery("plain", &plain_jwks))
            }
            _ => (404, Vec::new(), "{}".into()),
        }
    })
    .await;
    // Hubs trusting the test-only authority, taking keys from a key set or an issuer.
    let trusting = |jwks_url: Option<String>, oidc_issuer: Option<String>| {
        hub(move |s| {
            s.auth.jwks_ca_file = Some(tls_file("test-only-ca.pem"));
            s.auth.jwks_url = jwks_url;
            s.auth.oidc_issuer = oidc_issuer;
        })
    };

    // Redirects and discovery that stay on HTTPS are followed.
    let moved = trusting(Some(format!("{origin}/moved")), None).await;
    ready(&moved).await;
    accepted(&moved, &KeyPair::RsaA.sign("k1", &claims("ATF")), "ATF").await;
    let issuer = format!("{origin}/realms/good");
    let discovered = trusting(None, Some(issuer.clone())).await;
    ready(&discovered).await;
    let mut good_claims = claims("ATF");
    good_claims["iss"] = json!(issuer);
    accepted(&discovered, &KeyPair::RsaA.sign("k1", &good_claims), "ATF").await;

    // A redirect, or a discovery document, from HTTPS to plain HTTP (even on loopback) is refused:
    // the fetch is `invalid`, and the plain provider is never asked.
    for (source, discovery) in [
        (format!("{origin}/moved-to-http"), false),
        (format!("{origin}/realms/plain"), true),
    ] {
        let app = if discovery {
            trusting(None, Some(source.clone())).await
        } else {
            trusting(Some(source.clone()), None).await
        };
        let (status, body) = readyz_until(&app, |_, body| {
            body["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("last fetch: invalid"))
        })
        .await;
        assert_eq!(status, 503, "{source}: {body}");
        assert!(
            body["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("last fetch: invalid")),
            "{source}: {body}"
        );
        let invalid = [("source", source.as_str()), ("outcome", "invalid")];
        assert_eq!(
            metric(&app, "hub_jwks_last_fetch", &invalid).await,
            Some(1.0),
            "{source}"
        );
        assert!(
            metric(&app, "hub_jwks_fetches_total", &invalid)
                .await
                .is_some_and(|count| count >= 1.0),
            "{source}"
        );
        let mut token_claims = claims("ATF");
        token_claims["iss"] = json!(source);
        refused(&app, &KeyPair::RsaA.sign("k1", &token_claims)).await;
        refused(&app, &KeyPair::RsaA.sign("k1", &claims("ATF"))).await;
    }
    assert_eq!(plain.jwks_hits(), 0, "the plain-HTTP provider was asked");
}

#[tokio::test]
async fn provider_addresses_must_be_https_except_on_loopback() {
    let db = TestDb::new().await;
    let build = |adjust: &dyn Fn(&mut Settings)| {
        let mut settings = db.server_settings();
        adjust(&mut settings);
        firearms_hub::server::Application::build_with(
            settings,
            db.db.clone(),
            Arc::new(firearms_hub::policy::Policy::default_policy()),
        )
        .map(|_| ())
        .map_err(|error| format!("{error:#}"))
    };
    let error = build(&|s| s.auth.jwks_url = Some("http://idp.example.gov/jwks".into()))
        .expect_err("plain http to another host");
    assert!(
        error.contains("auth.jwks_url") && error.contains("https://"),
        "{error}"
    );
    let error = build(&|s| s.auth.oidc_issuer = Some("http://10.20.30.40/realms/hub".into()))
        .expect_err("plain http to another host");
    assert!(
        error.contains("auth.oidc_issuer") && error.contains("https://"),
        "{error}"
    );
    let error = build(&|s| {
        s.auth.jwks_url = Some("https://idp.example.gov/jwks".into());
        s.auth.oidc_issuer = Some("https://idp.example.gov".into());
    })
    .expect_err("both");
    assert!(error.contains("not both"), "{error}");
    let error = build(&|s| {
        s.auth.oidc_issuer = Some("https://idp.example.gov/realms/hub".into());
        s.auth.issuer = "https://another.example.gov".into();
    })
    .expect_err("two issuers");
    assert!(error.contains("auth.issuer"), "{error}");
    // A key set's address alone does not say whose tokens to expect: `auth.issuer` must be set.
    let error = build(&|s| s.auth.jwks_url = Some("https://idp.example.gov/jwks".into()))
        .expect_err("the default issuer");
    assert!(
        error.contains("auth.issuer") && error.contains("auth.jwks_url"),
        "{error}"
    );
    // HTTPS anywhere, and HTTP on loopback, start (nothing is fetched before the server runs).
    build(&|s| {
        s.auth.jwks_url = Some("https://idp.example.gov/jwks".into());
        s.auth.issuer = PROVIDER_ISSUER.into();
    })
    .expect("https");
    build(&|s| {
        s.auth.jwks_url = Some("http://localhost:9/jwks".into());
        s.auth.issuer = PROVIDER_ISSUER.into();
    })
    .expect("loopback");
    build(&|s| s.auth.oidc_issuer = Some("http://[::1]:9/realms/hub".into())).expect("loopback");
}

/// The README's provider examples: each `toml` block that sets `auth.role_claim`, and the `json`
/// block of token claims after it.
fn readme_examples() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let mut blocks: Vec<(String, String)> = Vec::new();
    let mut open: Option<(String, Vec<&str>)> = None;
    for line in readme.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(language)) => open = Some((language.trim().to_owned(), Vec::new())),
            (Some(_), Some(_)) => {
                if let Some((language, lines)) = open.take() {
                    blocks.push((language, lines.join("\n")));
                }
            }
            (Some((_, lines)), None) => lines.push(line),
            (None, None) => {}
        }
    }
    let mut examples = Vec::new();
    for (i, (language, text)) in blocks.iter().enumerate() {
        if language == "toml" && text.contains("role_claim") {
            let claims = blocks[i + 1..]
                .iter()
                .find(|(language, _)| language == "json")
                .map(|(_, text)| text.clone())
                .expect("the example's token claims follow its settings");
            examples.push((text.clone(), claims));
        }
    }
    examples
}

#[tokio::test]
async fn the_readmes_keycloak_and_okta_examples_map_to_their_roles() {
    let examples = readme_examples();
    assert_eq!(examples.len(), 2, "a Keycloak and an Okta-style example");
    let provider = Provider::start(vec![KeyPair::RsaA.jwk("idp-1")]).await;
    for ((settings_text, claims_text), (role, subject)) in examples.iter().zip([
        ("ATF", "3b4f6a2e-8c1d-4e5f-9a0b-1c2d3e4f5a6b"),
        ("ICE", "analyst17@ice.example.gov"),
    ]) {
        // The example's provider is the one in the test.
        let origin = issuer_origin(settings_text);
        let settings_text = settings_text.replace(&origin, &provider.address);
        let claims_text = claims_text.replace(&origin, &provider.address);
        let app = spawn_app_with(|s| {
            let mut example: Settings = Figment::from(Serialized::defaults(s.clone()))
                .merge(Toml::string(&settings_text))
                .extract()
                .expect("the README's settings load");
            example.auth.dev_secret = s.auth.dev_secret.clone();
            example.auth.jwks_min_refetch_secs = 1;
            s.auth = example.auth;
        })
        .await;
        ready(&app).await;

        let mut claims: Value = serde_json::from_str(&claims_text).expect("the README's claims");
        claims["iat"] = json!(now() - 10);
        claims["exp"] = json!(now() + 600);
        let token = KeyPair::RsaA.sign("idp-1", &claims);
        let (status, body) = me(&app, &token).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["me"]["role"], role, "{body}");
        assert_eq!(body["data"]["me"]["subject"], subject, "{body}");
        let scopes = body["data"]["me"]["scopes"].as_array().expect("scopes");
        assert!(scopes.contains(&json!("pii")), "{body}");

        // The same token with its hub group taken away, or a second hub role added, is refused.
        let path = app.settings.auth.role_claim.segments().to_vec();
        let groups = path
            .iter()
            .try_fold(&mut claims, |value, segment| value.get_mut(segment))
            .expect("the role claim");
        let names = groups.as_array().expect("an array of names").clone();
        let mapped: Vec<&String> = app.settings.auth.role_map.keys().collect();
        let without: Vec<Value> = names
            .iter()
            .filter(|name| !mapped.iter().any(|m| name.as_str() == Some(m.as_str())))
            .cloned()
            .collect();
        *groups = json!(without);
        let message = refused(&app, &KeyPair::RsaA.sign("idp-1", &claims)).await;
        let claim = app.settings.auth.role_claim.to_string();
        assert!(
            message.contains(&format!("`{claim}`")) && message.contains("no name"),
            "{message}"
        );
        let groups = path
            .iter()
            .try_fold(&mut claims, |value, segment| value.get_mut(segment))
            .expect("the role claim");
        *groups = json!(mapped);
        let message = refused(&app, &KeyPair::RsaA.sign("idp-1", &claims)).await;
        assert!(message.contains("more than one hub role"), "{message}");
    }
}

/// The origin (`https://host`) of the `oidc_issuer` an example's settings name.
fn issuer_origin(settings: &str) -> String {
    let issuer = settings
        .lines()
        .find_map(|line| {
            let value = line.trim().strip_prefix("oidc_issuer")?.trim();
            Some(value.strip_prefix('=')?.trim().trim_matches('"').to_owned())
        })
        .expect("the example names its oidc_issuer");
    let scheme_end = issuer.find("://").expect("an address") + 3;
    let host_end = issuer[scheme_end..]
        .find('/')
        .map_or(issuer.len(), |slash| scheme_end + slash);
    issuer[..host_end].to_owned()
}
