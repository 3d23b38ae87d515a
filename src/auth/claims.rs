//! Who a token names (`sub`), as what (its role) and with which scopes, read after `jsonwebtoken`
//! has verified the signature and the registered claims: from the hub's own claims (`role`,
//! `scope`/`scopes`) or from where `auth.role_claim` and `auth.scope_claim` say a provider puts
//! them, its names mapped to hub roles by `auth.role_map`.

use std::collections::HashMap;

use entity::Role;
use serde_json::{Map, Value};

use super::{AuthError, Caller};
use crate::config::{AuthSettings, ClaimPath};

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

/// Where a token carries its role and scopes, and how a provider's names map to hub roles.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    role: ClaimPath,
    /// `None`: `scope` (a space-separated string) or `scopes` (an array), never both.
    scopes: Option<ClaimPath>,
    /// Empty: the role claim is one string spelling a hub role.
    role_map: HashMap<String, Role>,
}

impl ClaimRules {
    /// The hub's own form, the one `mint_dev_token` writes: `role`, and `scope` or `scopes`.
    pub(crate) fn hub() -> ClaimRules {
        ClaimRules {
            role: ClaimPath::default(),
            scopes: None,
            role_map: HashMap::new(),
        }
    }

    /// The rules for tokens signed by public keys: `auth.role_claim`, `auth.scope_claim` and
    /// `auth.role_map` (whose every value must be a hub role, spelled as the hub spells it).
    pub(crate) fn from_settings(settings: &AuthSettings) -> anyhow::Result<ClaimRules> {
        let mut role_map = HashMap::with_capacity(settings.role_map.len());
        for (name, role) in &settings.role_map {
            anyhow::ensure!(
                !name.is_empty(),
                "auth.role_map maps an empty name; give the provider's group or role name"
            );
            let role = parse_role_exact(role).ok_or_else(|| {
                anyhow::anyhow!(
                    "auth.role_map maps {name:?} to {role:?}, which is not a hub role: use ATF, \
                     ICE, CBP, STATE or OVERSIGHT (upper case)"
                )
            })?;
            role_map.insert(name.clone(), role);
        }
        Ok(ClaimRules {
            role: settings.role_claim.clone(),
            scopes: settings.scope_claim.clone(),
            role_map,
        })
    }
}

/// Builds the caller from verified claims, reading its role and scopes as `rules` say.
pub(crate) fn caller_from_claims(
    claims: &Map<String, Value>,
    issuer: &str,
    rules: &ClaimRules,
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
    let role = role(claims, rules)?;
    let scopes = match &rules.scopes {
        None => hub_scopes(claims)?,
        Some(path) => provider_scopes(claims, path)?,
    };
    Ok(Caller {
        subject: subject.clone(),
        role,
        scopes,
    })
}

/// The value at a claim path, if every step is there.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &ClaimPath) -> Option<&'a Value> {
    let (first, rest) = path.segments().split_first()?;
    let mut value = claims.get(first)?;
    for segment in rest {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// The role: one string spelling a hub role, or, with a role map, the one hub role the claim's
/// names map to (names the map does not know are ignored). Messages name the claim, never its
/// values.
fn role(claims: &Map<String, Value>, rules: &ClaimRules) -> Result<Role, AuthError> {
    let name = &rules.role;
    let Some(value) = lookup(claims, name) else {
        return Err(invalid(&format!("missing required claim `{name}`")));
    };
    if rules.role_map.is_empty() {
        return match value {
            Value::String(role) => parse_role_exact(role).ok_or_else(|| {
                invalid(&format!(
                    "`{name}` must be one of ATF, ICE, CBP, STATE, OVERSIGHT (upper case)"
                ))
            }),
            Value::Array(_) => Err(invalid(&format!("`{name}` must be a single string"))),
            _ => Err(invalid(&format!("`{name}` must be a string"))),
        };
    }
    let not_names = || invalid(&format!("`{name}` must be a string or an array of strings"));
    let names: Vec<&str> = match value {
        Value::String(text) => vec![text.as_str()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().ok_or_else(not_names))
            .collect::<Result<_, _>>()?,
        _ => return Err(not_names()),
    };
    let mapped: Vec<Role> = Role::ALL
        .iter()
        .copied()
        .filter(|role| {
            names
                .iter()
                .any(|name| rules.role_map.get(*name) == Some(role))
        })
        .collect();
    match mapped.as_slice() {
        [role] => Ok(*role),
        [] => Err(invalid(&format!(
            "`{name}` holds no name that auth.role_map maps to a hub role"
        ))),
        several => {
            let roles: Vec<&str> = several.iter().map(|role| role.as_str()).collect();
            Err(invalid(&format!(
                "`{name}` maps to more than one hub role ({}); a token must map to exactly one",
                roles.join(", ")
            )))
        }
    }
}

/// The hub's own scopes: a space-separated `scope` string or a `scopes` array, never both.
fn hub_scopes(claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
    match (claims.get("scope"), claims.get("scopes")) {
        (Some(_), Some(_)) => Err(invalid("give either `scope` or `scopes`, not both")),
        (Some(Value::String(text)), None) => collect_scopes(text.split_ascii_whitespace()),
        (Some(_), None) => Err(invalid("`scope` must be a space-separated string")),
        (None, Some(Value::Array(items))) => {
            let mut texts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(text) => texts.push(text.as_str()),
                    _ => return Err(invalid("`scopes` must be an array of strings")),
                }
            }
            collect_scopes(texts.into_iter())
        }
        (None, Some(_)) => Err(invalid("`scopes` must be an array of strings")),
        (None, None) => Ok(Vec::new()),
    }
}

/// A provider's scopes at `path`: a space-separated string or an array of strings; none when the
/// claim is absent.
fn provider_scopes(
    claims: &Map<String, Value>,
    path: &ClaimPath,
) -> Result<Vec<String>, AuthError> {
    let not_scopes = || {
        invalid(&format!(
            "`{path}` must be a space-separated string or an array of strings"
        ))
    };
    match lookup(claims, path) {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => collect_scopes(text.split_ascii_whitespace()),
        Some(Value::Array(items)) => {
            let texts: Vec<&str> = items
                .iter()
                .map(|item| item.as_str().ok_or_else(not_scopes))
                .collect::<Result<_, _>>()?;
            collect_scopes(texts.into_iter())
        }
        Some(_) => Err(not_scopes()),
    }
}

/// The role spelled exactly as the hub spells it (no case folding, no trimming).
pub(crate) fn parse_role_exact(text: &str) -> Option<Role> {
    Role::ALL.iter().copied().find(|role| role.as_str() == text)
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
