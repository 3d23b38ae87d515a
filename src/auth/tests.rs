//! Tests of token verification and minting, with the test-only keys in `tests/fixtures/keys/`.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::Role;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::claims::SCOPE_PII;
use super::keys::MAX_TOKEN_BYTES;
use super::mint::{MAX_DEV_TOKEN_TTL, MIN_DEV_SECRET_BYTES};
use super::*;
use crate::config::{AuthSettings, ClaimPath, PublicKeySetting};

const SECRET: &str = "test-only-development-secret-0123456789-abcdef";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keys")
        .join(name)
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

fn dev_settings() -> AuthSettings {
    AuthSettings {
        dev_secret: Some(SecretString::from(SECRET)),
        ..AuthSettings::default()
    }
}

fn public_key(kid: &str, algorithm: &str, file: &str) -> PublicKeySetting {
    PublicKeySetting {
        kid: kid.to_owned(),
        algorithm: algorithm.to_owned(),
        pem_file: fixture(file),
    }
}

/// Development secret, two RSA keys (rotation), one EC key and the JWKS file.
fn all_settings() -> AuthSettings {
    AuthSettings {
        public_keys: vec![
            public_key("rsa-a", "RS256", "test-only-rsa-a.public.pem"),
            public_key("rsa-b", "RS256", "test-only-rsa-b.public.pem"),
            public_key("ec-a", "ES256", "test-only-ec-a.public.pem"),
        ],
        jwks_file: Some(fixture("test-only-jwks.json")),
        ..dev_settings()
    }
}

fn verifier(settings: &AuthSettings) -> Verifier {
    Verifier::from_settings(settings).expect("verifier")
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> Value {
    let now = now();
    json!({
        "iss": "firearms-hub",
        "aud": "firearms-hub",
        "sub": "agent-7",
        "role": "ICE",
        "scope": "pii",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("object").remove(key);
    claims
}

fn sign(algorithm: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

fn rsa_key(name: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(&read_fixture(name)).expect("rsa key")
}

fn ec_key(name: &str) -> EncodingKey {
    EncodingKey::from_ec_pem(&read_fixture(name)).expect("ec key")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

fn invalid_claims(result: Result<Caller, AuthError>, mentions: &str) {
    match result {
        Err(AuthError::InvalidClaims(message)) => {
            assert!(message.contains(mentions), "{message} lacks {mentions}");
        }
        other => panic!("expected InvalidClaims({mentions}), got {other:?}"),
    }
}

#[test]
fn a_minted_dev_token_verifies_to_its_caller() {
    let settings = dev_settings();
    let token = mint_dev_token(
        &settings,
        Role::Cbp,
        &["pii".to_owned(), "pii".to_owned()],
        Duration::from_secs(3600),
        "dev-cbp",
    )
    .expect("minted");
    let caller = verifier(&settings)
        .verify_with_known_keys(&token)
        .expect("verified");
    assert_eq!(
        caller,
        Caller {
            subject: "dev-cbp".to_owned(),
            role: Role::Cbp,
            scopes: vec!["pii".to_owned()],
        }
    );
    assert!(caller.has_scope(SCOPE_PII));
    assert!(!caller.has_scope("PII"));

    let plain = mint_dev_token(
        &settings,
        Role::Oversight,
        &[],
        Duration::from_secs(60),
        "o",
    )
    .expect("minted");
    let caller = verifier(&settings)
        .verify_with_known_keys(&plain)
        .expect("verified");
    assert_eq!(caller.role, Role::Oversight);
    assert!(caller.scopes.is_empty());
}

#[test]
fn a_hand_signed_dev_token_verifies() {
    let caller = verifier(&dev_settings())
        .verify_with_known_keys(&hs(&claims()))
        .expect("verified");
    assert_eq!(caller.subject, "agent-7");
    assert_eq!(caller.role, Role::Ice);
    assert_eq!(caller.scopes, ["pii"]);
}

#[tokio::test]
async fn the_authorization_header_needs_the_bearer_scheme() {
    let verifier = verifier(&dev_settings());
    let token = hs(&claims());
    assert!(
        verifier
            .verify_header(Some(&format!("Bearer {token}")))
            .await
            .is_ok()
    );
    assert!(
        verifier
            .verify_header(Some(&format!("bearer  {token}")))
            .await
            .is_ok()
    );
    assert_eq!(verifier.verify_header(None).await, Err(AuthError::Missing));
    assert_eq!(
        verifier.verify_header(Some("  ")).await,
        Err(AuthError::Missing)
    );
    assert_eq!(
        verifier.verify_header(Some("Bearer ")).await,
        Err(AuthError::Missing)
    );
    assert_eq!(
        verifier.verify_header(Some("Basic dXNlcjpwYXNz")).await,
        Err(AuthError::NotBearer)
    );
    assert_eq!(
        verifier.verify_header(Some(&token)).await,
        Err(AuthError::NotBearer)
    );
    assert_eq!(
        verifier.verify_header(Some("Bearer not-a-jwt")).await,
        Err(AuthError::Malformed)
    );
}

#[test]
fn time_claims_are_enforced_with_leeway() {
    let verifier = verifier(&dev_settings());
    let now = now();
    let expired = with(claims(), "exp", json!(now - 120));
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&expired)),
        Err(AuthError::Expired)
    );
    let within_leeway = with(claims(), "exp", json!(now - 5));
    assert!(verifier.verify_with_known_keys(&hs(&within_leeway)).is_ok());
    let early = with(claims(), "nbf", json!(now + 600));
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&early)),
        Err(AuthError::NotYetValid)
    );
    let text_exp = with(claims(), "exp", json!("tomorrow"));
    invalid_claims(verifier.verify_with_known_keys(&hs(&text_exp)), "exp");
}

#[test]
fn issuer_and_audience_must_match() {
    let verifier = verifier(&dev_settings());
    let other_issuer = with(claims(), "iss", json!("someone-else"));
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&other_issuer)),
        Err(AuthError::WrongIssuer)
    );
    let issuer_array = with(claims(), "iss", json!(["firearms-hub", "someone-else"]));
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&issuer_array)),
        Err(AuthError::WrongIssuer)
    );
    let other_audience = with(claims(), "aud", json!("another-api"));
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&other_audience)),
        Err(AuthError::WrongAudience)
    );
    let audience_array = with(claims(), "aud", json!(["another-api", "firearms-hub"]));
    assert!(
        verifier
            .verify_with_known_keys(&hs(&audience_array))
            .is_ok()
    );
    let foreign_array = with(claims(), "aud", json!(["another-api"]));
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&foreign_array)),
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn registered_claims_are_required() {
    let verifier = verifier(&dev_settings());
    for claim in ["exp", "nbf", "iss", "aud", "sub"] {
        invalid_claims(
            verifier.verify_with_known_keys(&hs(&without(claims(), claim))),
            claim,
        );
    }
    // A public key's token needs no `nbf` (providers' access tokens lack it), but one that has it
    // is held to it.
    let public = Verifier::from_settings(&all_settings()).expect("verifier");
    let rs = |claims: &Value| {
        sign(
            Algorithm::RS256,
            Some("rsa-a"),
            &rsa_key("test-only-rsa-a.private.pem"),
            claims,
        )
    };
    assert!(
        public
            .verify_with_known_keys(&rs(&without(claims(), "nbf")))
            .is_ok()
    );
    assert_eq!(
        public.verify_with_known_keys(&rs(&with(claims(), "nbf", json!(now() + 600)))),
        Err(AuthError::NotYetValid)
    );
    for claim in ["exp", "iss", "aud", "sub"] {
        invalid_claims(
            public.verify_with_known_keys(&rs(&without(claims(), claim))),
            claim,
        );
    }
}

#[test]
fn the_role_must_be_one_exact_upper_case_string() {
    let verifier = verifier(&dev_settings());
    invalid_claims(
        verifier.verify_with_known_keys(&hs(&without(claims(), "role"))),
        "role",
    );
    for bad in [
        json!("ADMIN"),
        json!("ice"),
        json!("Ice"),
        json!(" ICE"),
        json!(["ICE"]),
        json!(7),
    ] {
        invalid_claims(
            verifier.verify_with_known_keys(&hs(&with(claims(), "role", bad))),
            "role",
        );
    }
    for role in Role::ALL {
        let token = hs(&with(claims(), "role", json!(role.as_str())));
        assert_eq!(
            verifier
                .verify_with_known_keys(&token)
                .expect("verified")
                .role,
            *role
        );
    }
}

#[test]
fn the_subject_is_checked() {
    let verifier = verifier(&dev_settings());
    for bad in [json!(""), json!("   "), json!("a\nb"), json!(42)] {
        invalid_claims(
            verifier.verify_with_known_keys(&hs(&with(claims(), "sub", bad))),
            "sub",
        );
    }
    let long = with(claims(), "sub", json!("x".repeat(201)));
    invalid_claims(verifier.verify_with_known_keys(&hs(&long)), "sub");
    let longest = with(claims(), "sub", json!("x".repeat(200)));
    assert!(verifier.verify_with_known_keys(&hs(&longest)).is_ok());
}

#[test]
fn scopes_come_as_a_string_or_an_array_not_both() {
    let verifier = verifier(&dev_settings());
    let array = with(
        without(claims(), "scope"),
        "scopes",
        json!(["pii", "read:x"]),
    );
    assert_eq!(
        verifier
            .verify_with_known_keys(&hs(&array))
            .expect("verified")
            .scopes,
        ["pii", "read:x"]
    );
    let spaced = with(claims(), "scope", json!("  pii   read:x pii "));
    assert_eq!(
        verifier
            .verify_with_known_keys(&hs(&spaced))
            .expect("verified")
            .scopes,
        ["pii", "read:x"]
    );
    let both = with(claims(), "scopes", json!(["pii"]));
    invalid_claims(verifier.verify_with_known_keys(&hs(&both)), "scope");
    let weird = with(claims(), "scope", json!("pii <script>"));
    invalid_claims(verifier.verify_with_known_keys(&hs(&weird)), "scope");
    let not_strings = with(without(claims(), "scope"), "scopes", json!([1, 2]));
    invalid_claims(verifier.verify_with_known_keys(&hs(&not_strings)), "scopes");
    let scope_array = with(claims(), "scope", json!(["pii"]));
    invalid_claims(verifier.verify_with_known_keys(&hs(&scope_array)), "scope");
}

#[test]
fn a_tampered_payload_is_refused() {
    let verifier = verifier(&all_settings());
    for token in [
        hs(&claims()),
        sign(
            Algorithm::RS256,
            Some("rsa-a"),
            &rsa_key("test-only-rsa-a.private.pem"),
            &claims(),
        ),
    ] {
        let parts: Vec<&str> = token.split('.').collect();
        let forged = b64(&with(claims(), "role", json!("OVERSIGHT")));
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(
            verifier.verify_with_known_keys(&tampered),
            Err(AuthError::BadSignature)
        );
    }
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let token = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(b"another-secret-that-is-long-enough-to-use"),
        &claims(),
    );
    assert_eq!(
        verifier(&dev_settings()).verify_with_known_keys(&token),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn unsigned_tokens_are_refused() {
    let verifier = verifier(&all_settings());
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE", "kid": "rsa-a"}),
    ] {
        let token = format!("{}.{}.", b64(&header), b64(&claims()));
        assert_eq!(
            verifier.verify_with_known_keys(&token),
            Err(AuthError::DisallowedAlgorithm)
        );
    }
}

#[test]
fn hs256_signed_with_an_rsa_public_key_is_refused() {
    let pem = read_fixture("test-only-rsa-a.public.pem");
    let confused = EncodingKey::from_secret(&pem);
    let verifier_all = verifier(&all_settings());
    // Named by the kid of the RS256 key: the algorithm does not match the key's.
    let token = sign(Algorithm::HS256, Some("rsa-a"), &confused, &claims());
    assert_eq!(
        verifier_all.verify_with_known_keys(&token),
        Err(AuthError::DisallowedAlgorithm)
    );
    // Without kid it can only be checked against the development secret, which it does not match.
    let token = sign(Algorithm::HS256, None, &confused, &claims());
    assert_eq!(
        verifier_all.verify_with_known_keys(&token),
        Err(AuthError::BadSignature)
    );
    // And with no development secret there is nothing to check it against.
    let no_dev = AuthSettings {
        dev_secret: None,
        ..all_settings()
    };
    assert_eq!(
        verifier(&no_dev).verify_with_known_keys(&token),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn the_algorithm_must_be_the_keys_pinned_one() {
    let verifier = verifier(&all_settings());
    // An ES256 token presented under an RS256 kid, and the other way round.
    let es = sign(
        Algorithm::ES256,
        Some("rsa-a"),
        &ec_key("test-only-ec-a.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&es),
        Err(AuthError::DisallowedAlgorithm)
    );
    let rs = sign(
        Algorithm::RS256,
        Some("ec-a"),
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&rs),
        Err(AuthError::DisallowedAlgorithm)
    );
    // RS512 with the right key is still not RS256.
    let rs512 = sign(
        Algorithm::RS512,
        Some("rsa-a"),
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&rs512),
        Err(AuthError::DisallowedAlgorithm)
    );
    // A dev token (no kid) must be HS256.
    let rs_without_kid = sign(
        Algorithm::RS256,
        None,
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&rs_without_kid),
        Err(AuthError::DisallowedAlgorithm)
    );
}

#[test]
fn an_unknown_kid_is_refused() {
    let verifier = verifier(&all_settings());
    let token = sign(
        Algorithm::RS256,
        Some("rsa-z"),
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&token),
        Err(AuthError::UnknownKey)
    );
    // A kid also sends an HS256 token away from the development secret.
    let token = sign(
        Algorithm::HS256,
        Some("dev"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&token),
        Err(AuthError::UnknownKey)
    );
    // The JWKS encryption key was skipped.
    let token = sign(
        Algorithm::RS256,
        Some("jwks-rsa-a-encryption"),
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&token),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn rs256_and_es256_verify_against_pem_keys_and_jwks() {
    let verifier = verifier(&all_settings());
    let cases = [
        (
            Algorithm::RS256,
            "rsa-a",
            rsa_key("test-only-rsa-a.private.pem"),
        ),
        (
            Algorithm::ES256,
            "ec-a",
            ec_key("test-only-ec-a.private.pem"),
        ),
        (
            Algorithm::RS256,
            "jwks-rsa-b",
            rsa_key("test-only-rsa-b.private.pem"),
        ),
        (
            Algorithm::ES256,
            "jwks-ec-a",
            ec_key("test-only-ec-a.private.pem"),
        ),
    ];
    for (algorithm, kid, key) in &cases {
        let token = sign(*algorithm, Some(kid), key, &claims());
        let caller = verifier
            .verify_with_known_keys(&token)
            .unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(caller.role, Role::Ice, "{kid}");
    }
    // The right kid with another key's signature.
    let token = sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &rsa_key("test-only-rsa-b.private.pem"),
        &claims(),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&token),
        Err(AuthError::BadSignature)
    );
    // Claims are still checked on public-key tokens.
    let token = sign(
        Algorithm::ES256,
        Some("ec-a"),
        &ec_key("test-only-ec-a.private.pem"),
        &with(claims(), "exp", json!(now() - 3600)),
    );
    assert_eq!(
        verifier.verify_with_known_keys(&token),
        Err(AuthError::Expired)
    );
}

#[test]
fn keys_rotate_with_several_kids_valid_at_once() {
    let settings = AuthSettings {
        public_keys: vec![
            public_key("2025-12", "RS256", "test-only-rsa-a.public.pem"),
            public_key("2026-01", "RS256", "test-only-rsa-b.public.pem"),
        ],
        ..AuthSettings::default()
    };
    let verifier = verifier(&settings);
    assert!(verifier.has_keys());
    let old = sign(
        Algorithm::RS256,
        Some("2025-12"),
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims(),
    );
    let new = sign(
        Algorithm::RS256,
        Some("2026-01"),
        &rsa_key("test-only-rsa-b.private.pem"),
        &claims(),
    );
    assert!(verifier.verify_with_known_keys(&old).is_ok());
    assert!(verifier.verify_with_known_keys(&new).is_ok());
    // Without a development secret, kid-less tokens have no key.
    assert_eq!(
        verifier.verify_with_known_keys(&hs(&claims())),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn url_headers_are_ignored_never_fetched() {
    let verifier = verifier(&all_settings());
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa-a".to_owned());
    header.jku = Some("https://attacker.example/jwks.json".to_owned());
    header.x5u = Some("https://attacker.example/cert.pem".to_owned());
    let token = jsonwebtoken::encode(&header, &claims(), &rsa_key("test-only-rsa-a.private.pem"))
        .expect("sign");
    assert!(verifier.verify_with_known_keys(&token).is_ok());
    // An attacker's own key behind jku does not help: the kid decides.
    header.kid = Some("attacker".to_owned());
    let token = jsonwebtoken::encode(&header, &claims(), &rsa_key("test-only-rsa-b.private.pem"))
        .expect("sign");
    assert_eq!(
        verifier.verify_with_known_keys(&token),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn malformed_tokens_are_refused_without_echoing_them() {
    let verifier = verifier(&all_settings());
    let valid = hs(&claims());
    let secret_looking = "eyJzZWNyZXQiOiJ0b3Atc2VjcmV0In0";
    let crit_header = b64(&json!({"alg": "HS256", "crit": ["exp"]}));
    let crit_token = format!("{crit_header}.{}.c2ln", b64(&claims()));
    for token in [
        String::new(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{secret_looking}.{secret_looking}.{secret_looking}"),
        format!("{valid} "),
        format!("{valid}=="),
        format!("!!.{valid}"),
        format!(
            "{}.{}.{}",
            b64(&json!({"kid": "rsa-a"})),
            b64(&claims()),
            "c2ln"
        ),
        format!(
            "{}.{}.{}",
            b64(&json!({"alg": 256})),
            b64(&claims()),
            "c2ln"
        ),
        "x".repeat(MAX_TOKEN_BYTES + 1),
        crit_token,
    ] {
        let error = verifier
            .verify_with_known_keys(&token)
            .expect_err("refused");
        assert_eq!(error, AuthError::Malformed, "{token:.40}");
        assert!(!error.to_string().contains(secret_looking));
    }
    let error = verifier
        .verify_with_known_keys(&hs(&with(claims(), "role", json!("ROOT-7f3a"))))
        .expect_err("refused");
    assert!(!error.to_string().contains("ROOT-7f3a"), "{error}");
}

/// Settings with these public keys and nothing else.
fn with_keys(public_keys: Vec<PublicKeySetting>) -> AuthSettings {
    AuthSettings {
        public_keys,
        ..AuthSettings::default()
    }
}

/// Why the verifier refuses these settings, with the whole cause chain.
fn refusal(settings: &AuthSettings) -> String {
    format!(
        "{:#}",
        Verifier::from_settings(settings).expect_err("refused")
    )
}

#[test]
fn settings_problems_are_refused_at_start() {
    let short = AuthSettings {
        dev_secret: Some(SecretString::from("only-31-bytes-long-secret-12345")),
        ..AuthSettings::default()
    };
    let error = Verifier::from_settings(&short).expect_err("short secret refused");
    assert!(error.to_string().contains("at least 32"), "{error}");

    let error = refusal(&with_keys(vec![public_key(
        "gone",
        "RS256",
        "no-such-key.pem",
    )]));
    assert!(
        error.contains("gone") && error.contains("no-such-key.pem"),
        "{error}"
    );

    let hs_public = public_key("hs", "HS256", "test-only-rsa-a.public.pem");
    let error = refusal(&with_keys(vec![hs_public]));
    assert!(
        error.contains("\"hs\"") && error.contains("RS256"),
        "{error}"
    );

    let private = public_key("priv", "RS256", "test-only-rsa-a.private.pem");
    let error = refusal(&with_keys(vec![private]));
    assert!(error.contains("private key"), "{error}");

    let wrong_curve = public_key("p384", "ES256", "test-only-ec-p384.public.pem");
    let error = refusal(&with_keys(vec![wrong_curve]));
    assert!(error.contains("P-256") && error.contains("p384"), "{error}");

    let rsa_as_ec = public_key("mixed", "ES256", "test-only-rsa-a.public.pem");
    assert!(Verifier::from_settings(&with_keys(vec![rsa_as_ec])).is_err());

    let error = refusal(&with_keys(vec![
        public_key("same", "RS256", "test-only-rsa-a.public.pem"),
        public_key("same", "RS256", "test-only-rsa-b.public.pem"),
    ]));
    assert!(error.contains("twice"), "{error}");

    let duplicate_in_jwks = AuthSettings {
        jwks_file: Some(fixture("test-only-jwks.json")),
        ..with_keys(vec![public_key(
            "jwks-ec-a",
            "ES256",
            "test-only-ec-a.public.pem",
        )])
    };
    assert!(Verifier::from_settings(&duplicate_in_jwks).is_err());

    let not_jwks = AuthSettings {
        jwks_file: Some(fixture("test-only-rsa-a.public.pem")),
        ..AuthSettings::default()
    };
    let error = refusal(&not_jwks);
    assert!(error.contains("test-only-rsa-a.public.pem"), "{error}");

    let empty = Verifier::from_settings(&AuthSettings::default()).expect("no keys is allowed");
    assert!(!empty.has_keys());
    assert_eq!(
        empty.verify_with_known_keys(&hs(&claims())),
        Err(AuthError::UnknownKey)
    );
}

#[test]
fn jwks_with_secret_material_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwks.json");
    std::fs::write(
        &path,
        json!({"keys": [{"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}]}).to_string(),
    )
    .expect("write");
    let settings = AuthSettings {
        jwks_file: Some(path),
        ..AuthSettings::default()
    };
    let error = format!(
        "{:#}",
        Verifier::from_settings(&settings).expect_err("refused")
    );
    assert!(
        error.contains("shared") && error.contains("jwks.json"),
        "{error}"
    );
}

#[test]
fn the_verifier_debug_output_holds_no_secret() {
    let verifier = verifier(&all_settings());
    let debug = format!("{verifier:?}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(
        debug.contains("rsa-a") && debug.contains("RS256"),
        "{debug}"
    );
    let settings = format!("{:?}", dev_settings());
    assert!(!settings.contains(SECRET));
}

#[test]
fn minting_is_refused_without_a_usable_dev_secret() {
    let none = AuthSettings::default();
    let error = mint_dev_token(&none, Role::Atf, &[], Duration::from_secs(60), "dev-atf")
        .expect_err("refused");
    assert!(
        error.to_string().contains("no development signing key"),
        "{error}"
    );

    let short = AuthSettings {
        dev_secret: Some(SecretString::from("short")),
        ..AuthSettings::default()
    };
    assert!(mint_dev_token(&short, Role::Atf, &[], Duration::from_secs(60), "dev-atf").is_err());

    let settings = dev_settings();
    let ttl = Duration::from_secs(60);
    assert!(mint_dev_token(&settings, Role::Atf, &["admin".to_owned()], ttl, "x").is_err());
    assert!(mint_dev_token(&settings, Role::Atf, &[], ttl, "").is_err());
    assert!(mint_dev_token(&settings, Role::Atf, &[], Duration::ZERO, "x").is_err());
    assert!(mint_dev_token(&settings, Role::Atf, &[], MAX_DEV_TOKEN_TTL * 2, "x").is_err());

    let dir = tempfile::tempdir().expect("tempdir");
    let no_file = AuthSettings {
        dev_secret_file: dir.path().join("absent.dev-secret"),
        ..AuthSettings::default()
    };
    let error = dev_token_command(no_file, Role::Ice, &[], ttl, None).expect_err("refused");
    assert!(
        error.to_string().contains("no development signing key"),
        "{error}"
    );
}

#[test]
fn the_dev_secret_file_is_created_once_with_private_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("hub.dev-secret");
    let mut settings = AuthSettings {
        dev_secret_file: path.clone(),
        ..AuthSettings::default()
    };
    assert!(!ensure_dev_secret(&mut settings, false).expect("checked"));
    assert!(settings.dev_secret.is_none());
    assert!(!path.exists());

    assert!(ensure_dev_secret(&mut settings, true).expect("created"));
    let written = std::fs::read_to_string(&path).expect("secret file");
    assert!(written.trim().len() >= MIN_DEV_SECRET_BYTES);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The `token` command picks the file up and its tokens verify once the server loads it too.
    let token = dev_token_command(
        AuthSettings {
            dev_secret_file: path.clone(),
            ..AuthSettings::default()
        },
        Role::State,
        &["pii".to_owned()],
        Duration::from_secs(300),
        None,
    )
    .expect("minted");
    let mut server = AuthSettings {
        dev_secret_file: path.clone(),
        ..AuthSettings::default()
    };
    assert!(ensure_dev_secret(&mut server, true).expect("loaded"));
    assert_eq!(std::fs::read_to_string(&path).expect("unchanged"), written);
    let caller = verifier(&server)
        .verify_with_known_keys(&token)
        .expect("verified");
    assert_eq!(caller.subject, "dev-state");
    assert_eq!(caller.role, Role::State);
    assert!(caller.has_scope("pii"));

    // A secret file others can read is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let mut loose = AuthSettings {
            dev_secret_file: path.clone(),
            ..AuthSettings::default()
        };
        assert!(ensure_dev_secret(&mut loose, false).is_err());
    }

    // A configured secret wins over the file, and a short one is refused.
    let mut short = AuthSettings {
        dev_secret: Some(SecretString::from("short")),
        dev_secret_file: path,
        ..AuthSettings::default()
    };
    assert!(ensure_dev_secret(&mut short, true).is_err());
}

#[test]
fn ttls_parse() {
    assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_ttl("2d"), Ok(Duration::from_secs(172_800)));
    for bad in [
        "",
        "h",
        "1",
        "0s",
        "-1h",
        "1.5h",
        "1w",
        "1 h",
        "99999999999999999999d",
    ] {
        assert!(parse_ttl(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_role_arg("ice"), Ok(Role::Ice));
    assert!(parse_role_arg("admin").is_err());
}

/// Settings with the RSA key `rsa-a` and these claim rules (a provider's tokens).
fn mapped(role_claim: ClaimPath, scope_claim: Option<ClaimPath>, map: &[(&str, &str)]) -> Verifier {
    verifier(&AuthSettings {
        public_keys: vec![public_key("rsa-a", "RS256", "test-only-rsa-a.public.pem")],
        role_claim,
        scope_claim,
        role_map: map
            .iter()
            .map(|(name, role)| ((*name).to_owned(), (*role).to_owned()))
            .collect(),
        ..dev_settings()
    })
}

fn path(text: &str) -> ClaimPath {
    ClaimPath::dotted(text).expect("claim path")
}

/// A provider's token: the registered claims and `extra`, signed by `rsa-a`.
fn provider_token(extra: Value) -> String {
    let mut claims = without(without(claims(), "role"), "scope");
    for (key, value) in extra.as_object().expect("object") {
        claims[key] = value.clone();
    }
    sign(
        Algorithm::RS256,
        Some("rsa-a"),
        &rsa_key("test-only-rsa-a.private.pem"),
        &claims,
    )
}

#[test]
fn a_role_array_in_a_nested_claim_maps_to_one_hub_role() {
    let verifier = mapped(
        path("realm_access.roles"),
        Some(path("scope")),
        &[("hub-atf-analysts", "ATF"), ("hub-oversight", "OVERSIGHT")],
    );
    let token = provider_token(json!({
        "realm_access": {"roles": ["offline_access", "uma_authorization", "hub-atf-analysts"]},
        "scope": "openid profile pii",
    }));
    let caller = verifier.verify_with_known_keys(&token).expect("verified");
    assert_eq!(caller.role, Role::Atf);
    assert_eq!(caller.scopes, ["openid", "profile", "pii"]);
    assert!(caller.has_scope(SCOPE_PII));
    // Two names of the same role are one role.
    let verifier = mapped(
        path("realm_access.roles"),
        None,
        &[("hub-atf-analysts", "ATF"), ("hub-atf-leads", "ATF")],
    );
    let token = provider_token(json!({
        "realm_access": {"roles": ["hub-atf-leads", "hub-atf-analysts"]},
    }));
    assert_eq!(
        verifier
            .verify_with_known_keys(&token)
            .expect("verified")
            .role,
        Role::Atf
    );
}

#[test]
fn a_role_string_claim_maps_too() {
    let verifier = mapped(path("groups"), Some(path("scp")), &[("HUB-ICE-HSI", "ICE")]);
    let token = provider_token(json!({"groups": "HUB-ICE-HSI", "scp": ["openid", "pii"]}));
    let caller = verifier.verify_with_known_keys(&token).expect("verified");
    assert_eq!(caller.role, Role::Ice);
    assert_eq!(caller.scopes, ["openid", "pii"]);
    // Names are matched exactly.
    let token = provider_token(json!({"groups": "hub-ice-hsi"}));
    invalid_claims(verifier.verify_with_known_keys(&token), "`groups`");
}

#[test]
fn a_namespaced_claim_is_one_path_segment() {
    let namespaced = ClaimPath::new(vec!["https://hub.example/role".to_owned()]).expect("path");
    // Without a role map the claim spells the hub role itself.
    let verifier = mapped(namespaced.clone(), None, &[]);
    let token = provider_token(json!({"https://hub.example/role": "OVERSIGHT"}));
    assert_eq!(
        verifier
            .verify_with_known_keys(&token)
            .expect("verified")
            .role,
        Role::Oversight
    );
    // The dots are not steps into an object.
    let nested = provider_token(json!({"https://hub": {"example/role": "OVERSIGHT"}}));
    invalid_claims(
        verifier.verify_with_known_keys(&nested),
        "missing required claim `https://hub.example/role`",
    );
    // With one, its names map.
    let verifier = mapped(namespaced, None, &[("cbp-ofo-targeting", "CBP")]);
    let token = provider_token(json!({"https://hub.example/role": ["cbp-ofo-targeting"]}));
    assert_eq!(
        verifier
            .verify_with_known_keys(&token)
            .expect("verified")
            .role,
        Role::Cbp
    );
}

#[test]
fn a_space_separated_scope_string_and_a_scope_array_both_work() {
    let verifier = mapped(path("role"), Some(path("scope")), &[]);
    let spaced = provider_token(json!({"role": "STATE", "scope": " openid  pii "}));
    let caller = verifier.verify_with_known_keys(&spaced).expect("verified");
    assert_eq!(caller.scopes, ["openid", "pii"]);
    let array = provider_token(json!({"role": "STATE", "scope": ["pii"]}));
    assert_eq!(
        verifier
            .verify_with_known_keys(&array)
            .expect("verified")
            .scopes,
        ["pii"]
    );
    let absent = provider_token(json!({"role": "STATE"}));
    assert!(
        verifier
            .verify_with_known_keys(&absent)
            .expect("verified")
            .scopes
            .is_empty()
    );
    // The configured claim is the only one read.
    let elsewhere = provider_token(json!({"role": "STATE", "scp": ["pii"]}));
    assert!(
        !verifier
            .verify_with_known_keys(&elsewhere)
            .expect("verified")
            .has_scope(SCOPE_PII)
    );
    let number = provider_token(json!({"role": "STATE", "scope": 7}));
    invalid_claims(verifier.verify_with_known_keys(&number), "`scope` must be");
    let weird = provider_token(json!({"role": "STATE", "scope": "pii <script>"}));
    invalid_claims(verifier.verify_with_known_keys(&weird), "scope");
}

#[test]
fn a_token_mapping_to_no_role_is_refused_naming_the_claim_not_its_values() {
    let verifier = mapped(
        path("realm_access.roles"),
        None,
        &[("hub-atf-analysts", "ATF")],
    );
    let token = provider_token(json!({
        "realm_access": {"roles": ["offline_access", "secret-project-7f3a"]},
    }));
    let error = verifier
        .verify_with_known_keys(&token)
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("`realm_access.roles`") && message.contains("no name"),
        "{message}"
    );
    assert!(!message.contains("secret-project-7f3a"), "{message}");
    for (claims, mentions) in [
        (json!({}), "missing required claim `realm_access.roles`"),
        (
            json!({"realm_access": "hub-atf-analysts"}),
            "missing required claim",
        ),
        (json!({"realm_access": {"roles": []}}), "no name"),
        (json!({"realm_access": {"roles": [7]}}), "array of strings"),
        (
            json!({"realm_access": {"roles": {"a": 1}}}),
            "array of strings",
        ),
    ] {
        invalid_claims(
            verifier.verify_with_known_keys(&provider_token(claims)),
            mentions,
        );
    }
}

#[test]
fn a_token_mapping_to_two_roles_is_refused() {
    let verifier = mapped(
        path("groups"),
        None,
        &[("hub-atf-analysts", "ATF"), ("hub-oversight", "OVERSIGHT")],
    );
    let token =
        provider_token(json!({"groups": ["hub-oversight", "Everyone", "hub-atf-analysts"]}));
    let message = verifier
        .verify_with_known_keys(&token)
        .expect_err("refused")
        .to_string();
    assert!(
        message.contains("`groups`") && message.contains("more than one hub role (ATF, OVERSIGHT)"),
        "{message}"
    );
    assert!(!message.contains("hub-oversight"), "{message}");
}

#[test]
fn development_tokens_keep_the_hub_claims_when_a_mapping_is_configured() {
    let verifier = mapped(path("groups"), Some(path("scp")), &[("hub-ice", "ICE")]);
    let caller = verifier
        .verify_with_known_keys(&hs(&with(claims(), "role", json!("CBP"))))
        .expect("verified");
    assert_eq!(caller.role, Role::Cbp);
    assert_eq!(caller.scopes, ["pii"]);
    // And a provider's token in the hub's form is not enough.
    let token = provider_token(json!({"role": "ICE"}));
    invalid_claims(verifier.verify_with_known_keys(&token), "`groups`");
}

#[test]
fn a_role_map_naming_no_hub_role_is_refused_at_start() {
    let settings = AuthSettings {
        role_map: [("hub-admins".to_owned(), "ADMIN".to_owned())].into(),
        ..dev_settings()
    };
    let error = refusal(&settings);
    assert!(
        error.contains("auth.role_map") && error.contains("hub-admins") && error.contains("ADMIN"),
        "{error}"
    );
    let lower = AuthSettings {
        role_map: [("hub-atf".to_owned(), "atf".to_owned())].into(),
        ..dev_settings()
    };
    assert!(Verifier::from_settings(&lower).is_err());
}

#[test]
fn claim_paths_are_dotted_or_lists_of_segments() {
    assert_eq!(
        path("realm_access.roles").segments(),
        ["realm_access", "roles"]
    );
    assert_eq!(path("cognito:groups").segments(), ["cognito:groups"]);
    let error = ClaimPath::dotted("https://hub.example/role").expect_err("ambiguous");
    assert!(error.contains("[\"https://hub.example/role\"]"), "{error}");
    for bad in ["", ".roles", "realm_access.", "a..b"] {
        assert!(ClaimPath::dotted(bad).is_err(), "{bad:?}");
    }
    assert!(ClaimPath::new(vec![]).is_err());
    assert!(ClaimPath::new(vec![String::new()]).is_err());
    let namespaced = ClaimPath::new(vec!["https://hub.example/role".to_owned()]).expect("path");
    assert_eq!(namespaced.to_string(), "https://hub.example/role");
    let nested =
        ClaimPath::new(vec!["https://hub.example".to_owned(), "role".to_owned()]).expect("path");
    assert_eq!(nested.to_string(), r#"["https://hub.example","role"]"#);
}
