//! The hub's own claims (`sub`, `role`, `scope`/`scopes`), checked after `jsonwebtoken` has
//! verified the signature and the registered claims.

use serde_json::{Map, Value};

use super::{AuthError, Caller};

/// The scope that lets a caller see personal data its role may see.
pub(crate) const SCOPE_PII: &str = "pii";
/// The scopes the hub gives meaning to; development tokens may carry only these.
pub(crate) const KNOWN_SCOPES: &[&str] = &[SCOPE_PII];
/// The longest `sub` accepted, in characters.
pub(crate) const MAX_SUBJECT_CHARS: usize = 200;
/// The most scopes one token may carry.
pub(crate) const MAX_SCOPES: usize = 32;
/// The longest scope accepted, in bytes.
const MAX_SCOPE_BYTES: usize = 64;

/// Builds the caller from verified claims.
pub(crate) fn caller_from_claims(
    claims: &Map<String, Value>,
    issuer: &str,
) -> Result<Caller, AuthError> {
    // `jsonwebtoken` also accepts an array `iss`; the hub wants exactly its issuer.
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == issuer => {}
        _ => return Err(AuthError::WrongIssuer),
    }
    let subject = match claims.get("sub") {
        Some(Value::String(sub)) => sub,
        Some(_) => return Err(invalid("`sub` must be a string")),
        None => return Err(invalid("missing required claim `sub`")),
    };
    check_subject(subject).map_err(invalid)?;
    let role = match claims.get("role") {
        Some(Value::String(role)) => parse_role_exact(role).ok_or_else(|| {
            invalid("`role` must be one of ATF, ICE, CBP, STATE, OVERSIGHT (upper case)")
        })?,
        Some(Value::Array(_)) => return Err(invalid("`role` must be a single string")),
        Some(_) => return Err(invalid("`role` must be a string")),
        None => return Err(invalid("missing required claim `role`")),
    };
    let scopes = match (claims.get("scope"), claims.get("scopes")) {
        (Some(_), Some(_)) => return Err(invalid("give either `scope` or `scopes`, not both")),
        (Some(Value::String(text)), None) => collect_scopes(text.split_ascii_whitespace())?,
        (Some(_), None) => return Err(invalid("`scope` must be a space-separated string")),
        (None, Some(Value::Array(items))) => {
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(text) => texts.push(text.as_str()),
                    _ => return Err(invalid("`scopes` must be an array of strings")),
                }
            }
            collect_scopes(texts.into_iter())?
        }
        (None, Some(_)) => return Err(invalid("`scopes` must be an array of strings")),
        (None, None) => Vec::new(),
    };
    Ok(Caller {
        subject: subject.clone(),
        role,
        scopes,
    })
}

/// The role spelled exactly as the hub spells it (no case folding, no trimming).
pub(crate) fn parse_role_exact(text: &str) -> Option<entity::Role> {
    entity::Role::ALL
        .iter()
        .copied()
        .find(|role| role.as_str() == text)
}

/// Checks a subject: non-empty, at most [`MAX_SUBJECT_CHARS`] characters, no control characters,
/// no surrounding white space.
pub(crate) fn check_subject(subject: &str) -> Result<(), &'static str> {
    if subject.trim().is_empty() {
        return Err("`sub` must not be empty");
    }
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        return Err("`sub` is longer than 200 characters");
    }
    if subject.chars().any(char::is_control) || subject.trim() != subject {
        return Err("`sub` contains control characters or surrounding white space");
    }
    Ok(())
}

/// Whether a scope is made of sane characters: ASCII letters, digits and `_ - . : /`, 1 to 64 bytes.
pub(crate) fn is_sane_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_BYTES
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':' | b'/'))
}

fn collect_scopes<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<String>, AuthError> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in items {
        if !is_sane_scope(scope) {
            return Err(invalid(
                "a scope contains characters other than letters, digits and _ - . : /, or is too long",
            ));
        }
        if !scopes.iter().any(|known| known == scope) {
            if scopes.len() == MAX_SCOPES {
                return Err(invalid("the token carries more than 32 scopes"));
            }
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

fn invalid(message: &str) -> AuthError {
    AuthError::InvalidClaims(message.to_owned())
}
