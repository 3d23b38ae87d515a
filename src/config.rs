//! One typed `Settings`, loaded once at startup: command-line flags over `HUB_…` environment
//! variables over an optional `hub.toml`, over defaults that work for the embedded SQLite case.
//! Nothing else in the code reads the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The database a hub uses when nothing is configured: a SQLite file in the working directory.
pub(crate) const DEFAULT_DATABASE_URL: &str = "sqlite://firearms-hub.db?mode=rwc";

/// The sections of the settings; `HUB_DATABASE_URL` sets `database.url`, `HUB_SERVER_BIND` sets
/// `server.bind`, and so on.
const SECTIONS: [&str; 8] = [
    "database",
    "server",
    "auth",
    "log",
    "policy",
    "limits",
    "cache",
    "subscriptions",
];

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub policy: PolicySettings,
    pub limits: LimitsSettings,
    pub cache: CacheSettings,
    pub subscriptions: SubscriptionSettings,
}

/// GraphQL subscriptions over WebSocket (graphql-transport-ws on `/graphql`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubscriptionSettings {
    /// Active subscriptions one token subject may hold at once, over all its connections and,
    /// on PostgreSQL, every hub process on the database (on SQLite, which serves one process,
    /// this process); one more is answered with an `error` message. 0 turns subscriptions off.
    pub per_subject: usize,
    /// Messages waiting to be sent on one connection; a client that lets more pile up is slow
    /// and its connection is closed with 1013.
    pub buffer: usize,
    /// Seconds a new connection has to send `connection_init` before it is closed with 4408.
    pub init_timeout_secs: u64,
    /// On PostgreSQL, seconds a subscription's lease counts against its subject without being
    /// renewed. Each process renews the leases of its running subscriptions every third of it,
    /// so the subscriptions of a process that died stop counting within this time. At least 3.
    pub lease_ttl_secs: u64,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        Self {
            per_subject: 20,
            buffer: 64,
            init_timeout_secs: 10,
            lease_ttl_secs: 60,
        }
    }
}

impl SubscriptionSettings {
    /// The shortest lease: renewed every third of it, at least once a second.
    pub const MIN_LEASE_TTL_SECS: u64 = 3;

    /// Refuses a lease too short to be renewed in time.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.lease_ttl_secs >= Self::MIN_LEASE_TTL_SECS,
            "invalid settings: subscriptions.lease_ttl_secs must be at least {} (seconds), got {}",
            Self::MIN_LEASE_TTL_SECS,
            self.lease_ttl_secs
        );
        Ok(())
    }
}

/// What each process keeps in memory between requests, and how it learns that the data changed.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// Bytes of canonical stats tables kept (least recently used dropped first); 0 computes every
    /// stats answer in SQL.
    pub stats_bytes: usize,
    /// How often (milliseconds) each process reads the data generations, and drops what it cached
    /// from data that has changed since: the bound on how long a change made through another
    /// process (or a lost PostgreSQL notification) goes unseen here. At least 10.
    pub generation_poll_ms: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            stats_bytes: 48 * 1024 * 1024,
            generation_poll_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicySettings {
    /// A policy file (TOML) replacing the compiled-in default; read and validated at startup.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH?mode=rwc` or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    /// A read replica of `url` (PostgreSQL streaming replication, e.g. a load balancer's read
    /// port): query operations read from it once it has replayed the caller's last write, and
    /// from `url` otherwise. PostgreSQL only, with `url` PostgreSQL too. Same pool settings.
    pub read_url: Option<String>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_secs: u64,
    /// How long a request waits for a free connection before it is refused.
    pub acquire_timeout_secs: u64,
    /// How long SQLite waits on a lock held by another writer.
    pub sqlite_busy_timeout_ms: u64,
    /// PostgreSQL `statement_timeout`; 0 turns it off.
    pub statement_timeout_ms: u64,
    /// The most audit events of concurrent requests appended in one transaction (at least 1).
    pub audit_batch_max: usize,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: DEFAULT_DATABASE_URL.to_owned(),
            read_url: None,
            max_connections: 10,
            min_connections: 1,
            connect_timeout_secs: 5,
            acquire_timeout_secs: 5,
            sqlite_busy_timeout_ms: 10_000,
            statement_timeout_ms: 30_000,
            audit_batch_max: 256,
        }
    }
}

impl DatabaseSettings {
    /// Refuses a `read_url` that is not PostgreSQL, or beside a `url` that is not: a read replica
    /// is a PostgreSQL standby of the primary.
    pub fn check_read_url(&self) -> anyhow::Result<()> {
        let Some(read_url) = &self.read_url else {
            return Ok(());
        };
        let postgres =
            |url: &str| url.starts_with("postgres://") || url.starts_with("postgresql://");
        anyhow::ensure!(
            postgres(read_url),
            "invalid settings: database.read_url must be a PostgreSQL URL (postgres://…) naming a \
             streaming replica of database.url; got {}",
            crate::store::redact_url(read_url)
        );
        anyhow::ensure!(
            postgres(&self.url),
            "invalid settings: database.read_url is set, but database.url is not PostgreSQL \
             ({}); read replicas work with PostgreSQL only, so remove database.read_url",
            crate::store::redact_url(&self.url)
        );
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    pub bind: String,
    /// Development mode: GraphiQL on `GET /graphql`, development tokens from `POST /dev/token`
    /// (loopback only), tokens printed by `serve --demo`.
    pub development: bool,
    /// The origins (scheme, host and port, exactly: `https://portal.example.gov`) whose pages may
    /// call the API from the browser (CORS). No wildcard; empty allows no other origin.
    pub cors_origins: Vec<String>,
    pub workers: usize,
    /// Seconds a graceful shutdown waits for in-flight requests.
    pub shutdown_timeout_secs: u64,
    /// Seconds between a shutdown signal and closing the listener, during which `/readyz` answers
    /// 503 while requests are still served, so a load balancer can stop routing here first.
    pub shutdown_drain_secs: u64,
    /// Seconds a connection may go without the client taking any of what the hub sends it
    /// (nothing acknowledged, or a receive window shut) before the hub drops it: a response or a
    /// subscription whose client stopped reading then frees its connection and buffers, as
    /// nginx's `send_timeout` does. 0 leaves it to the operating system (about 15 minutes for
    /// unacknowledged data, never for a shut window).
    pub send_timeout_secs: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_owned(),
            development: false,
            cors_origins: Vec::new(),
            workers: 2,
            shutdown_timeout_secs: 10,
            shutdown_drain_secs: 0,
            send_timeout_secs: 60,
        }
    }
}

impl ServerSettings {
    /// Refuses a `server.cors_origins` entry that is not one exact origin: a wildcard, `null`, a
    /// path, a query, user information or a scheme other than `http` or `https`.
    pub fn check_cors_origins(&self) -> anyhow::Result<()> {
        for origin in &self.cors_origins {
            check_origin(origin).map_err(|problem| {
                anyhow::anyhow!(
                    "invalid settings: server.cors_origins: {origin:?} {problem}; list exact \
                     origins such as \"https://portal.example.gov\" or \"http://localhost:3000\""
                )
            })?;
        }
        Ok(())
    }
}

/// Why `origin` is not one exact `scheme://host[:port]` origin, if it is not.
fn check_origin(origin: &str) -> Result<(), &'static str> {
    if origin.contains('*') {
        return Err("is a wildcard, which is not allowed (browsers refuse it with credentials)");
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err("is not an origin (scheme://host[:port])");
    };
    if scheme != "http" && scheme != "https" {
        return Err("must start with http:// or https://");
    }
    if authority.is_empty() {
        return Err("has no host");
    }
    if authority.contains(['/', '?', '#']) {
        return Err("has a path, query or fragment; an origin is only scheme://host[:port]");
    }
    if authority.contains('@') {
        return Err("has user information; an origin is only scheme://host[:port]");
    }
    if authority
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
        || origin != origin.trim()
    {
        return Err("contains white space");
    }
    if authority.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("must be in lower case, as browsers send it");
    }
    let host = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((_, port)) => {
                if !(port.is_empty() || port.strip_prefix(':').is_some_and(valid_port)) {
                    return Err("has an invalid port");
                }
                return Ok(());
            }
            None => return Err("has an unclosed IPv6 address"),
        },
        None => match authority.split_once(':') {
            Some((host, port)) if valid_port(port) => host,
            Some(_) => return Err("has an invalid port"),
            None => authority,
        },
    };
    if host.is_empty() {
        return Err("has no host");
    }
    Ok(())
}

fn valid_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.parse::<u16>().is_ok_and(|p| p > 0)
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Expected `iss` claim.
    pub issuer: String,
    /// Expected `aud` claim.
    pub audience: String,
    /// HS256 development signing secret (at least 32 bytes). Never printed.
    #[serde(skip_serializing)]
    pub dev_secret: Option<SecretString>,
    /// Where `serve --demo` keeps a generated development secret when none is configured.
    pub dev_secret_file: PathBuf,
    /// PEM public keys (RS256 or ES256), each named by its `kid`.
    pub public_keys: Vec<PublicKeySetting>,
    /// A JWKS file with further public keys.
    pub jwks_file: Option<PathBuf>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// The identity provider's JWKS address: its keys are fetched at start and refreshed while the
    /// hub runs. HTTPS, except on loopback. Not together with `oidc_issuer`. Needs `issuer` set
    /// to the provider's issuer (the default is refused at start).
    pub jwks_url: Option<String>,
    /// The identity provider's issuer: its JWKS address is discovered through
    /// `{issuer}/.well-known/openid-configuration`, whose `issuer` must be exactly this. HTTPS,
    /// except on loopback. `issuer` defaults to it.
    pub oidc_issuer: Option<String>,
    /// Seconds between refreshes of the provider's keys (sooner when its `Cache-Control: max-age`
    /// says so, never sooner than `jwks_min_refetch_secs`).
    pub jwks_refresh_secs: u64,
    /// A token naming a key the hub does not know makes it fetch the provider's keys again, at
    /// most once per this many seconds (counting every fetch).
    pub jwks_min_refetch_secs: u64,
    /// After this many seconds without a successful fetch, `/readyz` answers 503 (the last good
    /// key set still verifies tokens).
    pub jwks_stale_secs: u64,
    /// PEM certificates to trust, besides the public roots, for the provider's HTTPS (an agency's
    /// own certificate authority).
    pub jwks_ca_file: Option<PathBuf>,
    /// Where in a provider's token the role is: a dotted path (`realm_access.roles`) or a list of
    /// path segments (`["https://hub.example/role"]`). Tokens the hub mints itself always use
    /// `role`.
    pub role_claim: ClaimPath,
    /// Where in a provider's token the scopes are (`scp`, `scope`): an array of strings or one
    /// space-separated string. None: `scope` (a string) or `scopes` (an array), never both.
    pub scope_claim: Option<ClaimPath>,
    /// The provider's group (or role) names and the hub role each stands for. Empty: the role
    /// claim must be a single string spelling a hub role.
    pub role_map: BTreeMap<String, String>,
}

/// The default `auth.issuer`, which a configured `auth.oidc_issuer` replaces.
pub(crate) const DEFAULT_ISSUER: &str = "firearms-hub";

impl AuthSettings {
    /// The `iss` tokens must carry: `issuer`, or the OIDC issuer when `issuer` is left at its
    /// default.
    pub(crate) fn expected_issuer(&self) -> &str {
        match &self.oidc_issuer {
            Some(oidc) if self.issuer == DEFAULT_ISSUER => oidc,
            _ => &self.issuer,
        }
    }
}

/// A path to a claim inside a token's claims: object keys from the top. Written either as one
/// dotted string (`realm_access.roles`, `role`) or as a list of segments, which takes any claim
/// name, dots and slashes included (`["https://hub.example/role"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// A path from its segments, each a non-empty claim name.
    pub fn new(segments: Vec<String>) -> Result<ClaimPath, String> {
        if segments.is_empty() {
            return Err("a claim path needs at least one claim name".to_owned());
        }
        if segments.iter().any(|segment| segment.is_empty()) {
            return Err(format!("{segments:?} has an empty claim name"));
        }
        Ok(ClaimPath(segments))
    }

    /// A path from its dotted form. Dots with `/` or `:` (a URL-like, namespaced claim name such
    /// as `https://hub.example/role`) are refused: its dots would be read as steps, so it must be
    /// written as a list. Without dots the text is one claim name (`cognito:groups`).
    pub fn dotted(text: &str) -> Result<ClaimPath, String> {
        if text.contains('.') && (text.contains('/') || text.contains(':')) {
            return Err(format!(
                "{text:?} looks like a namespaced claim name; write it as a list of path \
                 segments, e.g. [{text:?}], so its dots are not read as steps into objects"
            ));
        }
        ClaimPath::new(text.split('.').map(str::to_owned).collect())
            .map_err(|_| format!("{text:?} is not a dotted claim path such as realm_access.roles"))
    }

    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl Default for ClaimPath {
    fn default() -> Self {
        ClaimPath(vec!["role".to_owned()])
    }
}

impl std::fmt::Display for ClaimPath {
    /// Dotted, unless a segment holds a dot (then the list, as JSON).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.len() == 1 || self.0.iter().all(|segment| !segment.contains('.')) {
            f.write_str(&self.0.join("."))
        } else {
            let list = serde_json::to_string(&self.0).map_err(|_| std::fmt::Error)?;
            f.write_str(&list)
        }
    }
}

impl<'de> Deserialize<'de> for ClaimPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Dotted(String),
            Segments(Vec<String>),
        }
        match Written::deserialize(deserializer) {
            Ok(Written::Dotted(text)) => ClaimPath::dotted(&text),
            Ok(Written::Segments(segments)) => ClaimPath::new(segments),
            Err(_) => Err(
                "a claim path is a dotted string (realm_access.roles) or a list of claim names"
                    .to_owned(),
            ),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: "firearms-hub".to_owned(),
            dev_secret: None,
            dev_secret_file: PathBuf::from("firearms-hub.dev-secret"),
            public_keys: Vec::new(),
            jwks_file: None,
            leeway_secs: 30,
            jwks_url: None,
            oidc_issuer: None,
            jwks_refresh_secs: 300,
            jwks_min_refetch_secs: 30,
            jwks_stale_secs: 86_400,
            jwks_ca_file: None,
            role_claim: ClaimPath::default(),
            scope_claim: None,
            role_map: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeySetting {
    pub kid: String,
    /// "RS256" or "ES256".
    pub algorithm: String,
    pub pem_file: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter, e.g. "info" or "firearms_hub=debug".
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

/// Limits on what one request may ask of the hub. Each is enforced before any database work.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsSettings {
    /// Largest request body, in bytes; a larger one gets HTTP 413.
    pub body_bytes: usize,
    /// Largest GraphQL document (the `query` text), in bytes.
    pub document_bytes: usize,
    /// Most lexical tokens (names, punctuators, values) in a document.
    pub tokens: usize,
    /// Deepest nesting of data fields (introspection under `__schema` and `__type` excluded).
    pub depth: usize,
    /// Deepest nesting under `__schema` or `__type`, counting them; standard tooling's
    /// introspection query needs 15. The lists `fields`, `interfaces`, `possibleTypes` and
    /// `inputFields` may besides nest only two deep there, as graphql-js has it.
    pub introspection_depth: usize,
    /// Most field selections, counting every alias, repetition and fragment expansion.
    pub complexity: usize,
    /// Deepest nesting counting fragment spreads and inline fragments.
    pub recursive_depth: usize,
    /// Most directives on one field.
    pub directives_per_field: usize,
    /// Seconds one request may run before it is abandoned with HTTP 503 and `TIMEOUT`.
    pub request_timeout_secs: u64,
    /// Requests per second each token subject may sustain; 0 turns rate limiting off.
    pub rate_per_second: f64,
    /// Requests a subject may send at once before the sustained rate applies.
    pub rate_burst: u32,
    /// Most documents kept as automatic persisted queries (in the database, shared by every
    /// process); registering one more evicts the least recently used. 0 turns registration off.
    pub persisted_max: usize,
    /// Largest document accepted for registration as an automatic persisted query, in bytes
    /// (never more than `document_bytes`).
    pub persisted_document_bytes: usize,
    /// Allow-list mode: only the operations of `persisted_manifest` run; any other document,
    /// and any registration, is refused with `PERSISTED_QUERY_NOT_ALLOWED`.
    pub persisted_only: bool,
    /// A persisted-operation manifest (Apollo's `apollo-persisted-query-manifest` format, or
    /// Relay's `{"<id>": "<document>"}`), read at start: its operations run by id or hash.
    pub persisted_manifest: Option<std::path::PathBuf>,
}

impl Default for LimitsSettings {
    fn default() -> Self {
        Self {
            body_bytes: 256 * 1024,
            document_bytes: 32 * 1024,
            tokens: 4_000,
            depth: 12,
            introspection_depth: 20,
            complexity: 2_000,
            recursive_depth: 32,
            directives_per_field: 4,
            request_timeout_secs: 30,
            rate_per_second: 20.0,
            rate_burst: 60,
            persisted_max: 10_000,
            persisted_document_bytes: 32 * 1024,
            persisted_only: false,
            persisted_manifest: None,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers in force.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub development: Option<bool>,
}

impl Settings {
    /// Loads the settings: `overrides` over `HUB_…` variables over the TOML file (`config_file`,
    /// or `hub.toml` when it exists) over the defaults.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "the settings file {} does not exist",
                    path.display()
                );
                figment = figment.merge(Toml::file_exact(path));
            }
            None if Path::new("hub.toml").exists() => {
                figment = figment.merge(Toml::file_exact("hub.toml"));
            }
            None => {}
        }
        // Only variables that name a section are settings; others (HUB_TEST_DATABASE_URL) are not.
        let env = Env::prefixed("HUB_").filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SECTIONS
                .iter()
                .any(|section| key.starts_with(&format!("{section}_")))
        });
        figment = figment.merge(env.map(|key| {
            let key = key.as_str().to_ascii_lowercase();
            SECTIONS
                .iter()
                .find_map(|section| {
                    key.strip_prefix(&format!("{section}_"))
                        .map(|rest| format!("{section}.{rest}"))
                })
                .unwrap_or(key)
                .into()
        }));
        let mut flags = Figment::new();
        if let Some(url) = &overrides.database_url {
            flags = flags.merge(Serialized::default("database.url", url));
        }
        if let Some(bind) = &overrides.bind {
            flags = flags.merge(Serialized::default("server.bind", bind));
        }
        if let Some(development) = overrides.development {
            flags = flags.merge(Serialized::default("server.development", development));
        }
        let settings: Settings = figment
            .merge(flags)
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
        settings.server.check_cors_origins()?;
        settings.database.check_read_url()?;
        settings.subscriptions.check()?;
        anyhow::ensure!(
            settings.cache.generation_poll_ms >= 10,
            "invalid settings: cache.generation_poll_ms must be at least 10 (milliseconds), got {}",
            settings.cache.generation_poll_ms
        );
        Ok(settings)
    }

    /// Settings for an explicit database URL and nothing else configured (tests, tools).
    pub fn for_database(url: impl Into<String>) -> Settings {
        Settings {
            database: DatabaseSettings {
                url: url.into(),
                ..DatabaseSettings::default()
            },
            ..Settings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscription_lease_too_short_to_renew_is_refused() {
        assert!(SubscriptionSettings::default().check().is_ok());
        let short = SubscriptionSettings {
            lease_ttl_secs: 2,
            ..SubscriptionSettings::default()
        };
        let refused = short.check().expect_err("a 2 s lease is refused");
        assert!(refused.to_string().contains("subscriptions.lease_ttl_secs"));
    }

    #[test]
    fn defaults_use_a_sqlite_file_in_the_working_directory() {
        let settings = Settings::default();
        assert_eq!(settings.database.url, DEFAULT_DATABASE_URL);
        assert!(settings.database.max_connections > 0);
        assert!(!settings.server.development);
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail API returns its own error type"
    )]
    fn flags_win_over_environment_and_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hub.toml",
                "[database]\nurl = \"sqlite://from-file.db\"\nmax_connections = 3\n[server]\nbind = \"127.0.0.1:1\"\n",
            )?;
            jail.set_env("HUB_DATABASE_URL", "sqlite://from-env.db");
            jail.set_env("HUB_SERVER_BIND", "127.0.0.1:2");
            let overrides = Overrides {
                bind: Some("127.0.0.1:3".into()),
                ..Overrides::default()
            };
            let settings = Settings::load(None, &overrides).expect("settings load");
            assert_eq!(settings.database.url, "sqlite://from-env.db");
            assert_eq!(settings.database.max_connections, 3);
            assert_eq!(settings.server.bind, "127.0.0.1:3");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail API returns its own error type"
    )]
    fn limits_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("HUB_LIMITS_RATE_BURST", "7");
            jail.set_env("HUB_LIMITS_BODY_BYTES", "1024");
            let settings = Settings::load(None, &Overrides::default()).expect("settings load");
            assert_eq!(settings.limits.rate_burst, 7);
            assert_eq!(settings.limits.body_bytes, 1024);
            assert_eq!(settings.limits.depth, LimitsSettings::default().depth);
            Ok(())
        });
    }

    #[test]
    fn cors_origins_must_be_exact_origins() {
        for good in [
            "https://portal.example.gov",
            "http://localhost:3000",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
        ] {
            let settings = ServerSettings {
                cors_origins: vec![good.to_owned()],
                ..ServerSettings::default()
            };
            assert!(settings.check_cors_origins().is_ok(), "{good}");
        }
        for (bad, why) in [
            ("*", "wildcard"),
            ("https://*.example.gov", "wildcard"),
            ("null", "not an origin"),
            ("portal.example.gov", "not an origin"),
            ("ftp://portal.example.gov", "http:// or https://"),
            ("https://portal.example.gov/", "path"),
            ("https://portal.example.gov/app", "path"),
            ("https://user@portal.example.gov", "user information"),
            ("https://Portal.example.gov", "lower case"),
            ("https://portal.example.gov:0", "port"),
            ("https://portal.example.gov:99999", "port"),
            ("https://", "no host"),
        ] {
            let settings = ServerSettings {
                cors_origins: vec![bad.to_owned()],
                ..ServerSettings::default()
            };
            let error = settings.check_cors_origins().expect_err(bad).to_string();
            assert!(error.contains("server.cors_origins"), "{error}");
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail API returns its own error type"
    )]
    fn a_wildcard_cors_origin_is_refused_when_loading() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hub.toml", "[server]\ncors_origins = [\"*\"]\n")?;
            let error = Settings::load(None, &Overrides::default()).expect_err("refused");
            assert!(error.to_string().contains("wildcard"), "{error}");
            jail.create_file(
                "hub.toml",
                "[server]\ncors_origins = [\"https://portal.example.gov\"]\n",
            )?;
            let settings = Settings::load(None, &Overrides::default()).expect("settings load");
            assert_eq!(settings.server.cors_origins, ["https://portal.example.gov"]);
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail API returns its own error type"
    )]
    fn an_unknown_setting_is_refused_by_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("hub.toml", "[database]\nurl_typo = \"x\"\n")?;
            let error = Settings::load(None, &Overrides::default()).expect_err("refused");
            assert!(error.to_string().contains("url_typo"), "{error}");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail API returns its own error type"
    )]
    fn claim_paths_and_the_role_map_come_from_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hub.toml",
                "[auth]\nrole_claim = \"realm_access.roles\"\nscope_claim = [\"https://hub.example/scp\"]\n\
                 [auth.role_map]\n\"hub-atf-analysts\" = \"ATF\"\n\"/ICE/HSI\" = \"ICE\"\n",
            )?;
            let settings = Settings::load(None, &Overrides::default()).expect("settings load");
            assert_eq!(
                settings.auth.role_claim.segments(),
                ["realm_access", "roles"]
            );
            assert_eq!(
                settings.auth.scope_claim.as_ref().map(ClaimPath::segments),
                Some(&["https://hub.example/scp".to_owned()][..])
            );
            assert_eq!(settings.auth.role_map.len(), 2);
            assert_eq!(settings.auth.role_map["/ICE/HSI"], "ICE");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment's Jail API returns its own error type"
    )]
    fn a_namespaced_claim_written_dotted_is_refused_with_the_list_form() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hub.toml",
                "[auth]\nrole_claim = \"https://hub.example/role\"\n",
            )?;
            let error = Settings::load(None, &Overrides::default()).expect_err("refused");
            let error = error.to_string();
            assert!(
                error.contains("role_claim") && error.contains("[\"https://hub.example/role\"]"),
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_default_role_claim_is_the_top_level_role() {
        let settings = AuthSettings::default();
        assert_eq!(settings.role_claim.segments(), ["role"]);
        assert!(settings.scope_claim.is_none() && settings.role_map.is_empty());
        assert_eq!(settings.expected_issuer(), "firearms-hub");
        let oidc = AuthSettings {
            oidc_issuer: Some("https://idp.example.gov/realms/hub".to_owned()),
            ..AuthSettings::default()
        };
        assert_eq!(oidc.expected_issuer(), "https://idp.example.gov/realms/hub");
    }
}
