//! The keys a hub accepts, each pinned to one algorithm, and token verification.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::claims::caller_from_claims;
use super::mint::check_dev_secret;
use super::{AuthError, Caller};
use crate::config::AuthSettings;

/// The longest token accepted, in bytes; longer ones are refused before any parsing.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The largest clock-skew allowance a hub accepts in `auth.leeway_secs`.
pub(crate) const MAX_LEEWAY_SECS: u64 = 600;
/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The claims a token must carry for `jsonwebtoken` to accept it.
const REQUIRED_CLAIMS: [&str; 5] = ["exp", "nbf", "iss", "aud", "sub"];

/// One accepted key and the only algorithm it verifies.
struct PinnedKey {
    name: &'static str,
    key: DecodingKey,
    validation: Validation,
}

struct Keys {
    /// The development secret (HS256), for tokens without `kid`.
    dev: Option<PinnedKey>,
    /// Public keys (RS256/ES256) by `kid`.
    by_kid: HashMap<String, PinnedKey>,
    issuer: String,
}

/// The keys a hub accepts, each pinned to one algorithm.
#[derive(Clone)]
pub(crate) struct Verifier {
    keys: Arc<Keys>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<(&str, &str)> = self
            .keys
            .by_kid
            .iter()
            .map(|(kid, key)| (kid.as_str(), key.name))
            .collect();
        kids.sort_unstable();
        f.debug_struct("Verifier")
            .field("dev_secret", &self.keys.dev.is_some())
            .field("public_keys", &kids)
            .finish()
    }
}

impl Verifier {
    /// Builds the verifier from the settings: the development secret (`auth.dev_secret`, at least
    /// 32 bytes; call [`super::ensure_dev_secret`] first to pick up `auth.dev_secret_file`), the PEM
    /// public keys and the JWKS file. Errors name the offending file or `kid`.
    pub(crate) fn from_settings(settings: &AuthSettings) -> anyhow::Result<Verifier> {
        ensure!(
            !settings.issuer.trim().is_empty(),
            "auth.issuer must not be empty"
        );
        ensure!(
            !settings.audience.trim().is_empty(),
            "auth.audience must not be empty"
        );
        ensure!(
            settings.leeway_secs <= MAX_LEEWAY_SECS,
            "auth.leeway_secs is {}; at most {MAX_LEEWAY_SECS} seconds of clock skew is allowed",
            settings.leeway_secs
        );
        let dev = match &settings.dev_secret {
            Some(secret) => {
                check_dev_secret(secret)?;
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
                Some(PinnedKey::new(Algorithm::HS256, key, settings))
            }
            None => None,
        };
        let mut by_kid = HashMap::new();
        for public in &settings.public_keys {
            let kid = &public.kid;
            check_kid(kid).with_context(|| "a key in auth.public_keys has an invalid kid")?;
            let algorithm = match public.algorithm.as_str() {
                "RS256" => Algorithm::RS256,
                "ES256" => Algorithm::ES256,
                _ => bail!(
                    "public key {kid:?}: algorithm must be \"RS256\" or \"ES256\", not {:?}",
                    public.algorithm
                ),
            };
            let key = load_pem(&public.pem_file, algorithm)
                .with_context(|| format!("public key {kid:?} ({})", public.pem_file.display()))?;
            ensure!(
                !by_kid.contains_key(kid),
                "public key {kid:?} is configured twice"
            );
            by_kid.insert(kid.clone(), PinnedKey::new(algorithm, key, settings));
        }
        if let Some(path) = &settings.jwks_file {
            let keys = load_jwks(path).with_context(|| format!("JWKS file {}", path.display()))?;
            for (kid, algorithm, key) in keys {
                ensure!(
                    !by_kid.contains_key(&kid),
                    "JWKS file {}: key {kid:?} is also configured elsewhere",
                    path.display()
                );
                by_kid.insert(kid, PinnedKey::new(algorithm, key, settings));
            }
        }
        Ok(Verifier {
            keys: Arc::new(Keys {
                dev,
                by_kid,
                issuer: settings.issuer.clone(),
            }),
        })
    }

    /// Whether any key is configured (when none is, every token is refused).
    #[cfg(test)]
    pub(crate) fn has_keys(&self) -> bool {
        self.keys.dev.is_some() || !self.keys.by_kid.is_empty()
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`, scheme case-insensitive), or its
    /// absence ([`AuthError::Missing`]).
    pub(crate) fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let value = header.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(AuthError::Missing);
        }
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::NotBearer);
        }
        let token = token.trim_start();
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        self.verify(token)
    }

    /// Verifies a compact JWT and returns who it identifies.
    pub(crate) fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let header = read_header(token)?;
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::DisallowedAlgorithm);
        }
        let pinned = match &header.kid {
            Some(kid) => self.keys.by_kid.get(kid),
            None => self.keys.dev.as_ref(),
        }
        .ok_or(AuthError::UnknownKey)?;
        if header.alg != pinned.name {
            return Err(AuthError::DisallowedAlgorithm);
        }
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &pinned.key, &pinned.validation)
                .map_err(|error| map_error(error.kind()))?;
        caller_from_claims(&data.claims, &self.keys.issuer)
    }
}

impl PinnedKey {
    fn new(algorithm: Algorithm, key: DecodingKey, settings: &AuthSettings) -> PinnedKey {
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.leeway = settings.leeway_secs;
        PinnedKey {
            name: algorithm_name(algorithm),
            key,
            validation,
        }
    }
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::RS256 => "RS256",
        Algorithm::ES256 => "ES256",
        // Only the three above are ever pinned; anything else could never match a header.
        _ => "(unsupported)",
    }
}

/// What the hub reads from a token's header before choosing a key.
struct TokenHeader {
    alg: String,
    kid: Option<String>,
}

/// Checks the compact form and reads `alg` and `kid`; `jku`, `x5u`, `jwk` and `x5c` are ignored.
fn read_header(token: &str) -> Result<TokenHeader, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Err(AuthError::Malformed);
    };
    let base64url = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if header.is_empty()
        || payload.is_empty()
        || !base64url(header)
        || !base64url(payload)
        || !base64url(signature)
    {
        return Err(AuthError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::Malformed)?;
    let fields: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed)?;
    let alg = match fields.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(AuthError::Malformed),
    };
    let kid = match fields.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(AuthError::Malformed),
    };
    // The hub understands no critical header extension, so it must refuse any (RFC 7515 §4.1.11).
    if fields.contains_key("crit") {
        return Err(AuthError::Malformed);
    }
    Ok(TokenHeader { alg, kid })
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::DisallowedAlgorithm,
        // The claim names come from REQUIRED_CLAIMS, never from the token.
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "exp" | "nbf" | "iss" | "aud" | "sub" => {
                AuthError::InvalidClaims(format!("missing required claim `{claim}`"))
            }
            _ => AuthError::InvalidClaims("a required claim is missing".to_owned()),
        },
        ErrorKind::InvalidClaimFormat(claim) => match claim.as_str() {
            "exp" | "nbf" => AuthError::InvalidClaims(format!("`{claim}` must be a number")),
            _ => AuthError::InvalidClaims("a claim has the wrong type".to_owned()),
        },
        ErrorKind::InvalidSubject => AuthError::InvalidClaims("`sub` is invalid".to_owned()),
        _ => AuthError::Malformed,
    }
}

fn check_kid(kid: &str) -> anyhow::Result<()> {
    ensure!(!kid.is_empty(), "kid must not be empty");
    ensure!(kid.len() <= 200, "kid is longer than 200 bytes");
    ensure!(
        !kid.chars().any(char::is_control),
        "kid contains control characters"
    );
    Ok(())
}

/// Reads a PEM public key for `algorithm` and checks it (RSA at least 2048 bits, EC on P-256).
fn load_pem(path: &Path, algorithm: Algorithm) -> anyhow::Result<DecodingKey> {
    let pem = std::fs::read(path).context("cannot read the PEM file")?;
    ensure!(
        !pem.windows(b"PRIVATE KEY".len())
            .any(|w| w == b"PRIVATE KEY"),
        "the file holds a private key; configure the public key (`openssl pkey -pubout`)"
    );
    let key = match algorithm {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem)
            .map_err(|e| anyhow::anyhow!("not an RSA public key in PEM form: {e}"))?,
        Algorithm::ES256 => DecodingKey::from_ec_pem(&pem)
            .map_err(|e| anyhow::anyhow!("not an EC public key in PEM form: {e}"))?,
        _ => bail!("only RS256 and ES256 public keys are supported"),
    };
    check_public_key(&key, algorithm)?;
    Ok(key)
}

/// Checks that a key suits its pinned algorithm.
fn check_public_key(key: &DecodingKey, algorithm: Algorithm) -> anyhow::Result<()> {
    let jwk = Jwk::from_decoding_key(key, Some(algorithm))
        .map_err(|e| anyhow::anyhow!("unusable public key: {e}"))?;
    match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(rsa), Algorithm::RS256) => {
            let modulus = URL_SAFE_NO_PAD
                .decode(&rsa.n)
                .context("unusable RSA modulus")?;
            let bits = rsa_bits(&modulus);
            ensure!(
                bits >= MIN_RSA_BITS,
                "the RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
            );
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => ensure!(
            ec.curve == EllipticCurve::P256,
            "ES256 needs a key on the P-256 curve"
        ),
        _ => bail!(
            "the key does not suit the {} algorithm",
            algorithm_name(algorithm)
        ),
    }
    Ok(())
}

fn rsa_bits(modulus: &[u8]) -> usize {
    let significant = match modulus.iter().position(|b| *b != 0) {
        Some(first) => &modulus[first..],
        None => return 0,
    };
    let leading = significant
        .first()
        .map_or(0, |b| b.leading_zeros() as usize);
    significant.len() * 8 - leading
}

/// Reads the RS256/ES256 signing keys of a JWKS file. Keys for encryption, for other algorithms or
/// without `kid` are skipped with a warning; symmetric or private keys are refused.
fn load_jwks(path: &Path) -> anyhow::Result<Vec<(String, Algorithm, DecodingKey)>> {
    let text = std::fs::read(path).context("cannot read the file")?;
    let document: Value = serde_json::from_slice(&text).context("not valid JSON")?;
    let Some(Value::Array(entries)) = document.get("keys") else {
        bail!("no `keys` array");
    };
    let mut keys: Vec<(String, Algorithm, DecodingKey)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let Some(fields) = entry.as_object() else {
            bail!("key #{index} is not a JSON object");
        };
        let text_field = |name: &str| fields.get(name).and_then(Value::as_str);
        let Some(kid) = text_field("kid") else {
            tracing::warn!(file = %path.display(), index, "skipping a JWKS key without kid");
            continue;
        };
        check_kid(kid).with_context(|| format!("key #{index}"))?;
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            ensure!(
                !fields.contains_key(private),
                "key {kid:?} holds private or symmetric key material; only public keys are accepted"
            );
        }
        if text_field("use").is_some_and(|usage| usage != "sig") {
            tracing::warn!(file = %path.display(), kid, "skipping a JWKS key not meant for signatures");
            continue;
        }
        let alg = text_field("alg");
        let (algorithm, key) = match text_field("kty") {
            Some("RSA") if alg.is_none_or(|alg| alg == "RS256") => {
                let (Some(n), Some(e)) = (text_field("n"), text_field("e")) else {
                    bail!("RSA key {kid:?} lacks `n` or `e`");
                };
                let key = DecodingKey::from_rsa_components(n, e)
                    .map_err(|e| anyhow::anyhow!("RSA key {kid:?} is unusable: {e}"))?;
                (Algorithm::RS256, key)
            }
            Some("EC")
                if alg.is_none_or(|alg| alg == "ES256") && text_field("crv") == Some("P-256") =>
            {
                let (Some(x), Some(y)) = (text_field("x"), text_field("y")) else {
                    bail!("EC key {kid:?} lacks `x` or `y`");
                };
                let coordinate_ok =
                    |c: &str| URL_SAFE_NO_PAD.decode(c).is_ok_and(|b| b.len() == 32);
                ensure!(
                    coordinate_ok(x) && coordinate_ok(y),
                    "EC key {kid:?}: `x` and `y` must be 32-byte base64url values"
                );
                let key = DecodingKey::from_ec_components(x, y)
                    .map_err(|e| anyhow::anyhow!("EC key {kid:?} is unusable: {e}"))?;
                (Algorithm::ES256, key)
            }
            Some("oct") => bail!("key {kid:?} is a symmetric key; only public keys are accepted"),
            _ => {
                tracing::warn!(file = %path.display(), kid, "skipping a JWKS key that is not RS256 or ES256 on P-256");
                continue;
            }
        };
        check_public_key(&key, algorithm).with_context(|| format!("key {kid:?}"))?;
        ensure!(
            !keys.iter().any(|(known, _, _)| known == kid),
            "key {kid:?} appears twice"
        );
        keys.push((kid.to_owned(), algorithm, key));
    }
    ensure!(!keys.is_empty(), "no RS256 or ES256 signing key found");
    Ok(keys)
}
