//! Development tokens: HS256 with the development secret, minted by `firearms-hub token` and
//! printed by `serve --demo`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::TryRngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};

use super::claims::{KNOWN_SCOPES, check_subject};
use crate::config::AuthSettings;

/// The shortest development secret accepted, in bytes.
pub(crate) const MIN_DEV_SECRET_BYTES: usize = 32;
/// The longest lifetime a development token may have.
pub(crate) const MAX_DEV_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Random bytes in a generated development secret (stored base64url-encoded, 64 characters).
const GENERATED_SECRET_BYTES: usize = 48;

/// Refuses a development secret shorter than [`MIN_DEV_SECRET_BYTES`].
pub(crate) fn check_dev_secret(secret: &SecretString) -> anyhow::Result<()> {
    let length = secret.expose_secret().len();
    ensure!(
        length >= MIN_DEV_SECRET_BYTES,
        "the development secret (auth.dev_secret) has {length} bytes; at least {MIN_DEV_SECRET_BYTES} are required"
    );
    Ok(())
}

/// Mints a development token (HS256 with the dev secret). Refuses (Err) when no dev secret is
/// configured, for a subject that is empty or too long, for a scope the hub does not know
/// ([`KNOWN_SCOPES`]), or for a lifetime of zero or beyond [`MAX_DEV_TOKEN_TTL`].
pub fn mint_dev_token(
    settings: &AuthSettings,
    role: entity::Role,
    scopes: &[String],
    ttl: Duration,
    subject: &str,
) -> anyhow::Result<String> {
    let Some(secret) = &settings.dev_secret else {
        bail!(
            "no development signing key is configured: set auth.dev_secret (HUB_AUTH_DEV_SECRET) or \
             create {} (`firearms-hub serve --demo` does)",
            settings.dev_secret_file.display()
        );
    };
    check_dev_secret(secret)?;
    check_subject(subject).map_err(|problem| anyhow::anyhow!("invalid subject: {problem}"))?;
    let mut granted: Vec<&str> = Vec::new();
    for scope in scopes {
        ensure!(
            KNOWN_SCOPES.contains(&scope.as_str()),
            "unknown scope {scope:?}; known scopes: {}",
            KNOWN_SCOPES.join(", ")
        );
        if !granted.contains(&scope.as_str()) {
            granted.push(scope);
        }
    }
    ensure!(
        ttl >= Duration::from_secs(1) && ttl <= MAX_DEV_TOKEN_TTL,
        "the token lifetime must be between 1 second and 30 days"
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let mut claims = serde_json::json!({
        "iss": settings.expected_issuer(),
        "aud": settings.audience,
        "sub": subject,
        "role": role.as_str(),
        "iat": now,
        "nbf": now,
        "exp": now + ttl.as_secs(),
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    if !granted.is_empty()
        && let Some(object) = claims.as_object_mut()
    {
        object.insert("scope".to_owned(), granted.join(" ").into());
    }
    let key = EncodingKey::from_secret(secret.expose_secret().as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key)
        .map_err(|e| anyhow::anyhow!("cannot sign the development token: {e}"))
}

/// Loads the dev secret from settings, or from `settings.dev_secret_file` if it exists, or (only
/// when `create` is true) generates a random 48-byte secret, writes it to that file with 0600
/// permissions and returns it. Returns whether a secret is now configured. A secret shorter than
/// 32 bytes, or (on Unix) a secret file that other users can read, is refused.
pub(crate) fn ensure_dev_secret(settings: &mut AuthSettings, create: bool) -> anyhow::Result<bool> {
    if let Some(secret) = &settings.dev_secret {
        check_dev_secret(secret)?;
        return Ok(true);
    }
    let path = settings.dev_secret_file.clone();
    if let Some(secret) = read_secret_file(&path)? {
        settings.dev_secret = Some(secret);
        return Ok(true);
    }
    if !create {
        return Ok(false);
    }
    let mut bytes = [0_u8; GENERATED_SECRET_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot draw random bytes for the development secret: {e}"))?;
    let secret = SecretString::from(URL_SAFE_NO_PAD.encode(bytes));
    bytes.fill(0);
    match write_secret_file(&path, &secret) {
        Ok(()) => {
            tracing::info!(file = %path.display(), "generated a development signing secret");
            settings.dev_secret = Some(secret);
            Ok(true)
        }
        // Another process created it in the meantime: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            match read_secret_file(&path)? {
                Some(secret) => {
                    settings.dev_secret = Some(secret);
                    Ok(true)
                }
                None => bail!(
                    "the development secret file {} vanished while it was being created",
                    path.display()
                ),
            }
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "cannot write the development secret file {}",
                path.display()
            )
        }),
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<Option<SecretString>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => SecretString::from(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| {
                format!("cannot read the development secret file {}", path.display())
            });
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot inspect {}", path.display()))?
            .permissions()
            .mode();
        ensure!(
            mode & 0o077 == 0,
            "the development secret file {} can be read by other users; run `chmod 600` on it",
            path.display()
        );
    }
    let secret = SecretString::from(text.expose_secret().trim());
    check_dev_secret(&secret)
        .with_context(|| format!("in the development secret file {}", path.display()))?;
    Ok(Some(secret))
}

fn write_secret_file(path: &Path, secret: &SecretString) -> std::io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(secret.expose_secret().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Parses a lifetime such as `90s`, `15m`, `1h` or `2d` (a positive whole number and one unit).
pub(crate) fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let usage = || format!("invalid duration {text:?}: use e.g. 90s, 15m, 1h or 2d");
    let number: u64 = number.parse().map_err(|_| usage())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 60 * 60,
        "d" => 24 * 60 * 60,
        _ => return Err(usage()),
    };
    if number == 0 {
        return Err(format!("invalid duration {text:?}: it must be positive"));
    }
    let secs = number.checked_mul(unit_secs).ok_or_else(usage)?;
    Ok(Duration::from_secs(secs))
}

/// Parses a role on the command line (any case: `ice` or `ICE`).
pub(crate) fn parse_role_arg(text: &str) -> Result<entity::Role, String> {
    entity::Role::parse(text)
        .ok_or_else(|| format!("unknown role {text:?}: use ATF, ICE, CBP, STATE or OVERSIGHT"))
}

/// The `token` subcommand: picks up the development secret (settings or secret file, never
/// creating one) and mints a token; the subject defaults to `dev-<role in lower case>`.
pub(crate) fn dev_token_command(
    mut settings: AuthSettings,
    role: entity::Role,
    scopes: &[String],
    ttl: Duration,
    subject: Option<&str>,
) -> anyhow::Result<String> {
    if !ensure_dev_secret(&mut settings, false)? {
        bail!(
            "no development signing key is configured: set auth.dev_secret in hub.toml or \
             HUB_AUTH_DEV_SECRET (at least {MIN_DEV_SECRET_BYTES} bytes), or run \
             `firearms-hub serve --demo` once to create {}",
            settings.dev_secret_file.display()
        );
    }
    let default_subject = format!("dev-{}", role.as_str().to_ascii_lowercase());
    mint_dev_token(
        &settings,
        role,
        scopes,
        ttl,
        subject.unwrap_or(&default_subject),
    )
}
