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
use crate::config::{AuthSettings, PublicKeySetting};

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
