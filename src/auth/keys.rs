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

use super::claims::{ClaimRules, caller_from_claims};
use super::jwks::{self, SigningKey, Strictness};
use super::mint::check_dev_secret;
use super::remote::Remote;
use super::{AuthError, Caller};
use crate::config::AuthSettings;

/// The longest token accepted, in bytes; longer ones are refused before any parsing.
pub(crate) const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// The largest clock-skew allowance a hub accepts in `auth.leeway_secs`.
pub(crate) const MAX_LEEWAY_SECS: u64 = 600;
/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// The claims a development token (HS256, the hub's own) must carry for `jsonwebtoken` to accept
/// it.
const REQUIRED_CLAIMS: [&str; 5] = ["exp", "nbf", "iss", "aud", "sub"];
/// The claims a token signed by a public key must carry: `nbf` is checked when present but not
/// required, as identity providers' access tokens (Keycloak, Okta, Auth0) do not carry it.
const REQUIRED_PUBLIC_KEY_CLAIMS: [&str; 4] = ["exp", "iss", "aud", "sub"];

/// What every key's validation checks besides the signature.
pub(super) struct TokenRules {
    issuer: String,
    audience: String,
    leeway_secs: u64,
}

/// One accepted key and the only algorithm it verifies.
pub(super) struct PinnedKey {
    name: &'static str,
    key: DecodingKey,
    validation: Validation,
}

struct Keys {
    /// The development secret (HS256), for tokens without `kid`.
    dev: Option<PinnedKey>,
    /// Public keys (RS256/ES256) configured locally (PEM files, the JWKS file), by `kid`.
    by_kid: HashMap<String, PinnedKey>,
    /// The identity provider's keys, when `auth.jwks_url` or `auth.oidc_issuer` is set.
    remote: Option<Arc<Remote>>,
    issuer: String,
    /// How tokens of public keys name their role and scopes.
    claims: ClaimRules,
    /// How the development tokens the hub mints name them.
    hub_claims: ClaimRules,
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
        let provider_kids = self.keys.remote.as_ref().map(|remote| remote.kids());
        f.debug_struct("Verifier")
            .field("dev_secret", &self.keys.dev.is_some())
            .field("public_keys", &kids)
            .field("provider_keys", &provider_kids)
            .finish()
    }
}

impl Verifier {
    /// Builds the verifier from the settings: the development secret (`auth.dev_secret`, at least
    /// 32 bytes; call [`super::ensure_dev_secret`] first to pick up `auth.dev_secret_file`), the PEM
    /// public keys, the JWKS file, the identity provider's key source (checked, not fetched yet:
    /// see [`Verifier::provider`]) and the claim mapping. Errors name the offending setting, file
    /// or `kid`.
    pub(crate) fn from_settings(settings: &AuthSettings) -> anyhow::Result<Verifier> {
        let issuer = settings.expected_issuer();
        ensure!(!issuer.trim().is_empty(), "auth.issuer must not be empty");
        ensure!(
            !settings.audience.trim().is_empty(),
            "auth.audience must not be empty"
        );
        ensure!(
            settings.leeway_secs <= MAX_LEEWAY_SECS,
            "auth.leeway_secs is {}; at most {MAX_LEEWAY_SECS} seconds of clock skew is allowed",
            settings.leeway_secs
        );
        let rules = Arc::new(TokenRules {
            issuer: issuer.to_owned(),
            audience: settings.audience.clone(),
            leeway_secs: settings.leeway_secs,
        });
        let dev = match &settings.dev_secret {
            Some(secret) => {
                check_dev_secret(secret)?;
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
                Some(PinnedKey::new(Algorithm::HS256, key, &rules))
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
            by_kid.insert(kid.clone(), PinnedKey::new(algorithm, key, &rules));
        }
        if let Some(path) = &settings.jwks_file {
            let keys = load_jwks(path).with_context(|| format!("JWKS file {}", path.display()))?;
            for signing in keys {
                let kid = signing.kid;
                ensure!(
                    !by_kid.contains_key(&kid),
                    "JWKS file {}: key {kid:?} is also configured elsewhere",
                    path.display()
                );
                by_kid.insert(kid, PinnedKey::new(signing.algorithm, signing.key, &rules));
            }
        }
        let local_kids = by_kid.keys().cloned().collect();
        let remote = Remote::from_settings(settings, rules.clone(), local_kids)?.map(Arc::new);
        Ok(Verifier {
            keys: Arc::new(Keys {
                dev,
                by_kid,
                remote,
                issuer: issuer.to_owned(),
                claims: ClaimRules::from_settings(settings)?,
                hub_claims: ClaimRules::hub(),
            }),
        })
    }

    /// The identity provider's key source, when one is configured: what the server fetches from
    /// at start, keeps current and reports in `/readyz` and the metrics.
    pub(crate) fn provider(&self) -> Option<&Arc<Remote>> {
        self.keys.remote.as_ref()
    }

    /// Whether any key is configured (when none is, every token is refused).
    #[cfg(test)]
    pub(crate) fn has_keys(&self) -> bool {
        self.keys.dev.is_some() || !self.keys.by_kid.is_empty()
    }

    /// Verifies an `Authorization` header value (`Bearer <jwt>`, scheme case-insensitive), or its
    /// absence ([`AuthError::Missing`]), as [`Verifier::verify`] does.
    pub(crate) async fn verify_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
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
        self.verify(token).await
    }

    /// Verifies a compact JWT and returns who it identifies. A token naming a `kid` the hub does
    /// not know makes it fetch the identity provider's keys again (at most once per
    /// `auth.jwks_min_refetch_secs`), or wait for a fetch under way, and look once more.
    pub(crate) async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        match self.verify_with_known_keys(token) {
            Err(AuthError::UnknownKey) => match &self.keys.remote {
                Some(remote) if read_header(token).is_ok_and(|header| header.kid.is_some()) => {
                    // Whether or not this request fetched, another fetch may have installed the
                    // key since it looked: looking again is a map lookup.
                    remote.refetch_for_unknown_key().await;
                    self.verify_with_known_keys(token)
                }
                _ => Err(AuthError::UnknownKey),
            },
            verified => verified,
        }
    }

    /// Verifies a compact JWT against the keys the hub holds now, fetching nothing.
    pub(crate) fn verify_with_known_keys(&self, token: &str) -> Result<Caller, AuthError> {
        let header = read_header(token)?;
        if header.alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::DisallowedAlgorithm);
        }
        let provider_key;
        let (pinned, claims) = match &header.kid {
            Some(kid) => {
                let pinned = match self.keys.by_kid.get(kid) {
                    Some(local) => local,
                    None => {
                        provider_key = self
                            .keys
                            .remote
                            .as_ref()
                            .and_then(|remote| remote.key(kid))
                            .ok_or(AuthError::UnknownKey)?;
                        provider_key.as_ref()
                    }
                };
                (pinned, &self.keys.claims)
            }
            None => (
                self.keys.dev.as_ref().ok_or(AuthError::UnknownKey)?,
                &self.keys.hub_claims,
            ),
        };
        if header.alg != pinned.name {
            return Err(AuthError::DisallowedAlgorithm);
        }
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &pinned.key, &pinned.validation)
                .map_err(|error| map_error(error.kind()))?;
        caller_from_claims(&data.claims, &self.keys.issuer, claims)
    }
}

impl PinnedKey {
    pub(super) fn new(algorithm: Algorithm, key: DecodingKey, rules: &TokenRules) -> PinnedKey {
        let mut validation = Validation::new(algorithm);
        if algorithm == Algorithm::HS256 {
            validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        } else {
            validation.set_required_spec_claims(&REQUIRED_PUBLIC_KEY_CLAIMS);
        }
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[rules.issuer.as_str()]);
        validation.set_audience(&[rules.audience.as_str()]);
        validation.leeway = rules.leeway_secs;
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

pub(super) fn check_kid(kid: &str) -> anyhow::Result<()> {
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
pub(super) fn check_public_key(key: &DecodingKey, algorithm: Algorithm) -> anyhow::Result<()> {
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

/// Reads the RS256/ES256 signing keys of a JWKS file (see [`jwks`] for what is skipped and what
/// refuses the file).
fn load_jwks(path: &Path) -> anyhow::Result<Vec<SigningKey>> {
    let text = std::fs::read(path).context("cannot read the file")?;
    jwks::parse(&text, &path.display().to_string(), Strictness::File)
}

/// When the token of a verified `Authorization` value (`Bearer <jwt>`) expires: its `exp`, in
/// seconds since the epoch. Read only after [`Verifier::verify_header`] accepted the value (the
/// claim was then checked); `None` for anything else.
pub(crate) fn expiry_of(header: &str) -> Option<i64> {
    let (_, token) = header.trim().split_once(' ')?;
    let payload = token.trim().split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_i64()
        .or_else(|| exp.as_f64().map(|secs| secs as i64))
}
