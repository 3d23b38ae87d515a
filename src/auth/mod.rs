//! Who is calling: identity from verified JWTs, and development tokens.
//!
//! A hub accepts bearer tokens signed by keys it is configured with, each key pinned to exactly one
//! algorithm: HS256 for the development secret only (tokens without a `kid`), RS256 or ES256 for
//! public keys from PEM files or a JWKS file (tokens naming the key by `kid`). Keys are never
//! fetched from addresses a token names (`jku`, `x5u`, embedded `jwk` are ignored), a token's `alg`
//! must equal its key's pinned algorithm (`none` and HS/RS confusion are refused), and `exp`,
//! `nbf`, `iss`, `aud` and `sub` are required and checked.
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
//! never both. `aud` may also be an array that contains the hub's audience. Tokens are never logged
//! and errors never echo them.

mod claims;
mod keys;
mod mint;

#[cfg(test)]
mod tests;

pub use claims::{KNOWN_SCOPES, MAX_SCOPES, MAX_SUBJECT_CHARS, SCOPE_PII};
pub use keys::{MAX_LEEWAY_SECS, MAX_TOKEN_BYTES, Verifier};
pub use mint::{
    MAX_DEV_TOKEN_TTL, MIN_DEV_SECRET_BYTES, dev_token_command, ensure_dev_secret, mint_dev_token,
    parse_role_arg, parse_ttl,
};

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
pub enum AuthError {
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

impl AuthError {
    /// A stable machine-readable code, e.g. for a GraphQL error extension.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "TOKEN_MISSING",
            AuthError::NotBearer => "TOKEN_NOT_BEARER",
            AuthError::Malformed => "TOKEN_MALFORMED",
            AuthError::Expired => "TOKEN_EXPIRED",
            AuthError::NotYetValid => "TOKEN_NOT_YET_VALID",
            AuthError::BadSignature => "TOKEN_BAD_SIGNATURE",
            AuthError::WrongIssuer => "TOKEN_WRONG_ISSUER",
            AuthError::WrongAudience => "TOKEN_WRONG_AUDIENCE",
            AuthError::UnknownKey => "TOKEN_UNKNOWN_KEY",
            AuthError::DisallowedAlgorithm => "TOKEN_DISALLOWED_ALGORITHM",
            AuthError::InvalidClaims(_) => "TOKEN_INVALID_CLAIMS",
        }
    }
}
