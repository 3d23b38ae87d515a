//! Who is calling: identity from verified JWTs, and development tokens.
//!
//! A hub accepts bearer tokens signed by keys it is configured with, each key pinned to exactly one
//! algorithm: HS256 for the development secret only (tokens without a `kid`), RS256 or ES256 for
//! public keys (tokens naming the key by `kid`) from PEM files, a JWKS file, or the identity
//! provider's key set (`auth.jwks_url`, or `auth.oidc_issuer` and its discovery document), which
//! `remote` fetches at start, refreshes on a schedule and again when a token names an unknown
//! `kid`. Keys are never fetched from addresses a token names (`jku`, `x5u`, embedded `jwk` are
//! ignored), a token's `alg` must equal its key's pinned algorithm (`none` and HS/RS confusion are
//! refused), and `exp`, `nbf`, `iss`, `aud` and `sub` are required and checked.
//!
//! The claims a hub token carries (the form `mint_dev_token` writes):
//!
//! ```json
//! {
//!   "iss": "firearms-hub",
//!   "aud": "firearms-hub",
//!   "sub": "dev-ice",
//!   "role": "ICE",
//!   "scope": "pii",
//!   "iat": 1767225600,
//!   "nbf": 1767225600,
//!   "exp": 1767229200,
//!   "jti": "8c1b1f0e-4f7e-4c55-9d1e-6a1c2f3b4d5e"
//! }
//! ```
//!
//! `role` is one of `ATF`, `ICE`, `CBP`, `STATE`, `OVERSIGHT`, exactly so spelled. Scopes are a
//! space-separated `scope` string (OAuth style); a `scopes` array of strings is accepted instead,
//! never both. `aud` may also be an array that contains the hub's audience. Tokens signed by
//! public keys may carry their role and scopes elsewhere, as `auth.role_claim`,
//! `auth.scope_claim` and `auth.role_map` say (`claims`); the development tokens always use the
//! form above. Tokens are never logged and errors never echo them.

mod claims;
mod jwks;
mod keys;
mod mint;
mod remote;

#[cfg(test)]
mod tests;

pub(crate) use claims::{KNOWN_SCOPES, parse_role_exact};
pub(crate) use keys::{Verifier, expiry_of};
pub use mint::mint_dev_token;
pub(crate) use mint::{dev_token_command, ensure_dev_secret, parse_role_arg, parse_ttl};
pub(crate) use remote::{KeyStatus, Outcome as FetchOutcome, Remote};

/// Who is calling, established from a verified token. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's `sub`: who the caller is, as the issuer names them.
    pub subject: String,
    /// What the caller acts as.
    pub role: entity::Role,
    /// Extra permissions, e.g. [`SCOPE_PII`]; without duplicates, in the token's order.
    pub scopes: Vec<String>,
}

impl Caller {
    /// Whether the token granted `scope` (exact, case-sensitive match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|granted| granted == scope)
    }
}

/// Why a request's token was refused. Messages are safe to return to the caller: they never
/// contain the token nor any value taken from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("no bearer token was presented")]
    Missing,
    #[error("the Authorization header must use the Bearer scheme")]
    NotBearer,
    #[error("the bearer token is not a well-formed JWT")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token was issued by an issuer this hub does not accept")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the token names a signing key this hub does not know")]
    UnknownKey,
    #[error("the token's signing algorithm is not allowed for its key")]
    DisallowedAlgorithm,
    #[error("the token's claims are invalid: {0}")]
    InvalidClaims(String),
}
