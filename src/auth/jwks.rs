//! Reading a JWKS document (a JWKS file, or an identity provider's key set) into keys pinned to
//! one algorithm each.
//!
//! A key is pinned to RS256 (`kty` RSA, `alg` RS256 or absent) or ES256 (`kty` EC on P-256, `alg`
//! ES256 or absent). Keys for encryption (`use` other than `sig`), for other algorithms or without
//! `kid` are skipped with a warning. A document holding private or symmetric key material, or the
//! same `kid` twice, is refused whole. A file is read strictly (any other unusable key refuses
//! it, at start); a provider's key set skips such a key with a warning, so that one odd key does
//! not stop a rotation.

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::keys::{check_kid, check_public_key};

/// The members of a JWK that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// How a key that is neither usable nor plainly meant for something else is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Strictness {
    /// A file the operator configured: the hub refuses to start.
    File,
    /// An identity provider's key set: the key is skipped with a warning.
    Provider,
}

/// One usable signing key of a key set.
pub(super) struct SigningKey {
    pub kid: String,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

/// Reads the signing keys of a JWKS document; `origin` names it in warnings (a file or an
/// address, never a token).
pub(super) fn parse(
    document: &[u8],
    origin: &str,
    strictness: Strictness,
) -> anyhow::Result<Vec<SigningKey>> {
    let document: Value = serde_json::from_slice(document).context("not valid JSON")?;
    let Some(Value::Array(entries)) = document.get("keys") else {
        bail!("no `keys` array");
    };
    let mut keys: Vec<SigningKey> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(fields) = entry.as_object() else {
            match strictness {
                Strictness::File => bail!("key #{index} is not a JSON object"),
                Strictness::Provider => {
                    tracing::warn!(origin, index, "skipping a JWKS entry that is not an object");
                    continue;
                }
            }
        };
        let Some(kid) = fields.get("kid").and_then(Value::as_str) else {
            tracing::warn!(origin, index, "skipping a JWKS key without kid");
            continue;
        };
        if let Err(error) = check_kid(kid) {
            match strictness {
                Strictness::File => return Err(error.context(format!("key #{index}"))),
                Strictness::Provider => {
                    tracing::warn!(origin, index, %error, "skipping a JWKS key with an unusable kid");
                    continue;
                }
            }
        }
        for member in PRIVATE_MEMBERS {
            ensure!(
                !fields.contains_key(member),
                "key {kid:?} holds private or symmetric key material; only public keys are accepted"
            );
        }
        ensure!(
            fields.get("kty").and_then(Value::as_str) != Some("oct"),
            "key {kid:?} is a symmetric key; only public keys are accepted"
        );
        if fields
            .get("use")
            .is_some_and(|usage| usage.as_str() != Some("sig"))
        {
            tracing::warn!(origin, kid, "skipping a JWKS key not meant for signatures");
            continue;
        }
        match signing_key(kid, fields) {
            Ok(Some(key)) => {
                ensure!(
                    !keys.iter().any(|known| known.kid == key.kid),
                    "key {kid:?} appears twice"
                );
                keys.push(key);
            }
            Ok(None) => {
                tracing::warn!(
                    origin,
                    kid,
                    "skipping a JWKS key that is not RS256, or ES256 on P-256"
                );
            }
            Err(error) => match strictness {
                Strictness::File => return Err(error),
                Strictness::Provider => {
                    tracing::warn!(
                        origin,
                        kid,
                        error = format!("{error:#}"),
                        "skipping an unusable JWKS key"
                    );
                }
            },
        }
    }
    ensure!(!keys.is_empty(), "no RS256 or ES256 signing key found");
    Ok(keys)
}

/// The key pinned to its algorithm; `None` for a key of another type or algorithm; an error for
/// an RS256 or ES256 key that cannot be used (malformed, too short, wrong curve).
fn signing_key(kid: &str, fields: &Map<String, Value>) -> anyhow::Result<Option<SigningKey>> {
    let kty = fields.get("kty").and_then(Value::as_str);
    let jwk: Jwk = match serde_json::from_value(Value::Object(fields.clone())) {
        Ok(jwk) => jwk,
        Err(error) if matches!(kty, Some("RSA" | "EC")) => {
            bail!(
                "{kty:?} key {kid:?} is malformed: {error}",
                kty = kty.unwrap_or_default()
            )
        }
        Err(_) => return Ok(None),
    };
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            let coordinate_ok = |c: &str| URL_SAFE_NO_PAD.decode(c).is_ok_and(|b| b.len() == 32);
            ensure!(
                coordinate_ok(&ec.x) && coordinate_ok(&ec.y),
                "EC key {kid:?}: `x` and `y` must be 32-byte base64url values"
            );
            Algorithm::ES256
        }
        (AlgorithmParameters::Other(_), _)
            if kty == Some("RSA")
                || (kty == Some("EC")
                    && fields.get("crv").and_then(Value::as_str) == Some("P-256")) =>
        {
            bail!("key {kid:?} lacks the members its key type needs (`n` and `e`, or `x` and `y`)")
        }
        _ => return Ok(None),
    };
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|error| anyhow::anyhow!("key {kid:?} is unusable: {error}"))?;
    check_public_key(&key, algorithm).with_context(|| format!("key {kid:?}"))?;
    Ok(Some(SigningKey {
        kid: kid.to_owned(),
        algorithm,
        key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The keys of the test-only JWKS file (an RS256, an ES256 and an encryption key).
    fn fixture_keys() -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/keys/test-only-jwks.json");
        let document: Value =
            serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("json");
        document["keys"].as_array().expect("keys").clone()
    }

    fn document(keys: Vec<Value>) -> Vec<u8> {
        json!({ "keys": keys }).to_string().into_bytes()
    }

    fn kids(keys: &[SigningKey]) -> Vec<(&str, Algorithm)> {
        keys.iter()
            .map(|key| (key.kid.as_str(), key.algorithm))
            .collect()
    }

    #[test]
    fn keys_are_pinned_from_kty_and_alg_and_others_skipped() {
        let fixture = fixture_keys();
        let mut rsa_without_alg = fixture[0].clone();
        rsa_without_alg["kid"] = json!("no-alg");
        rsa_without_alg
            .as_object_mut()
            .expect("object")
            .remove("alg");
        rsa_without_alg
            .as_object_mut()
            .expect("object")
            .remove("use");
        let mut ps256 = fixture[0].clone();
        ps256["kid"] = json!("ps256");
        ps256["alg"] = json!("PS256");
        let mut unknown_alg = fixture[0].clone();
        unknown_alg["kid"] = json!("unknown-alg");
        unknown_alg["alg"] = json!("XX999");
        let okp = json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let p384 = json!({"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"});
        let no_kid = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        let keys = vec![
            fixture[0].clone(),
            fixture[1].clone(),
            fixture[2].clone(),
            rsa_without_alg,
            ps256,
            unknown_alg,
            okp,
            p384,
            no_kid,
        ];
        for strictness in [Strictness::File, Strictness::Provider] {
            let parsed = parse(&document(keys.clone()), "test", strictness).expect("parsed");
            assert_eq!(
                kids(&parsed),
                [
                    ("jwks-rsa-b", Algorithm::RS256),
                    ("jwks-ec-a", Algorithm::ES256),
                    ("no-alg", Algorithm::RS256),
                ],
                "{strictness:?}"
            );
        }
    }

    #[test]
    fn an_unusable_signing_key_refuses_a_file_but_is_skipped_in_a_provider_set() {
        let fixture = fixture_keys();
        // A 1024-bit RSA modulus.
        let short = json!({
            "kty": "RSA", "kid": "short", "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode([0xc5u8; 128]), "e": "AQAB",
        });
        let truncated = json!({"kty": "RSA", "kid": "truncated", "alg": "RS256", "e": "AQAB"});
        let bad_point =
            json!({"kty": "EC", "crv": "P-256", "kid": "bad-point", "x": "AA", "y": "AA"});
        for odd in [short, truncated, bad_point] {
            let kid = odd["kid"].as_str().expect("kid").to_owned();
            let keys = vec![fixture[0].clone(), odd];
            let error = parse(&document(keys.clone()), "test", Strictness::File)
                .err()
                .map(|error| format!("{error:#}"))
                .unwrap_or_default();
            assert!(error.contains(&kid), "{kid}: {error}");
            let parsed = parse(&document(keys), "test", Strictness::Provider).expect("parsed");
            assert_eq!(kids(&parsed), [("jwks-rsa-b", Algorithm::RS256)], "{kid}");
        }
    }

    #[test]
    fn private_material_duplicates_and_garbage_refuse_the_whole_set() {
        let fixture = fixture_keys();
        let mut private = fixture[1].clone();
        private["d"] = json!("c2VjcmV0");
        let symmetric = json!({"kty": "oct", "kid": "hmac", "alg": "HS256", "k": "c2VjcmV0"});
        let symmetric_without_k = json!({"kty": "oct", "kid": "hmac"});
        for strictness in [Strictness::File, Strictness::Provider] {
            for (keys, mentions) in [
                (vec![fixture[0].clone(), private.clone()], "private"),
                (vec![fixture[0].clone(), symmetric.clone()], "symmetric"),
                (vec![symmetric_without_k.clone()], "symmetric"),
                (vec![fixture[0].clone(), fixture[0].clone()], "twice"),
                (vec![fixture[2].clone()], "no RS256 or ES256"),
                (vec![], "no RS256 or ES256"),
            ] {
                let error = parse(&document(keys), "test", strictness)
                    .err()
                    .map(|error| format!("{error:#}"))
                    .unwrap_or_default();
                assert!(error.contains(mentions), "{strictness:?}: {error}");
            }
            for garbage in [&b"<html>"[..], b"{}", br#"{"keys": {}}"#, b"[]"] {
                assert!(parse(garbage, "test", strictness).is_err());
            }
        }
        // An entry that is no object refuses a file; a provider's set goes on without it.
        let keys = vec![json!("junk"), fixture[0].clone()];
        assert!(parse(&document(keys.clone()), "test", Strictness::File).is_err());
        let parsed = parse(&document(keys), "test", Strictness::Provider).expect("parsed");
        assert_eq!(kids(&parsed), [("jwks-rsa-b", Algorithm::RS256)]);
    }
}
