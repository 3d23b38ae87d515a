//! The identity provider's keys: fetched from `auth.jwks_url`, or from the `jwks_uri` its OIDC
//! discovery document (`{auth.oidc_issuer}/.well-known/openid-configuration`) names, at start and
//! then on a schedule, and again (at most once per `auth.jwks_min_refetch_secs`) when a token
//! names a key the hub does not know.
//!
//! Fetching never loses keys: a provider that cannot be reached, answers an error or a document
//! the hub cannot use leaves the last good key set in force, and [`Remote::status`] reports it
//! for `/readyz`. Addresses are HTTPS, except on loopback; redirects (at most three) and a
//! discovered `jwks_uri` are followed only to HTTPS, or to plain HTTP on loopback when the
//! configured address is itself plain HTTP on loopback ([`may_lead_to`]): an HTTPS provider never
//! sends the hub to plain HTTP. Proxies named in the environment (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`) are not used. Each fetch is bounded in time ([`FETCH_TIMEOUT`]) and size
//! ([`MAX_DOCUMENT_BYTES`]). Fetches are single-flight: requests that meet an unknown key while
//! one is under way wait for it instead of starting another, then look the key up again.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use reqwest::Url;
use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use serde_json::Value;

use super::jwks::{self, Strictness};
use super::keys::{PinnedKey, TokenRules};
use crate::config::AuthSettings;
use crate::telemetry;

/// How long one fetch (connection, request and the whole body) may take.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long connecting to the provider may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest discovery or JWKS document read, in bytes.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The most redirects followed.
const MAX_REDIRECTS: usize = 3;
/// The longest wait before retrying after a failed fetch (it doubles from one second).
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Where the keys come from.
enum Source {
    /// `auth.jwks_url`.
    Jwks(Url),
    /// `auth.oidc_issuer`: the issuer the discovery document must name, and its address.
    Discovery { issuer: String, document: Url },
}

/// The keys of the last good fetch.
struct KeySet {
    keys: HashMap<String, Arc<PinnedKey>>,
    /// When they were fetched; `None` before the first good fetch.
    fetched: Option<Instant>,
}

/// How the last fetch went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A usable key set was fetched.
    Ok,
    /// No answer: connection refused or reset, DNS, TLS, timeout.
    Unreachable,
    /// An answer other than 2xx.
    HttpError,
    /// An answer the hub cannot use: too large, not JSON, not a key set, no usable key, a
    /// discovery document of another issuer, a redirect (or a discovered `jwks_uri`) to an
    /// address the hub may not fetch from, too many redirects.
    Invalid,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Unreachable,
        Outcome::HttpError,
        Outcome::Invalid,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Unreachable => "unreachable",
            Outcome::HttpError => "http_error",
            Outcome::Invalid => "invalid",
        }
    }
}

/// Why a fetch failed (for the log; `/readyz` says only the outcome).
struct Failure {
    outcome: Outcome,
    message: String,
}

impl Failure {
    /// A request that failed: a redirect the policy refused is [`Outcome::Invalid`] (the
    /// provider answered, with somewhere the hub may not go), anything else
    /// [`Outcome::Unreachable`].
    fn request(error: &reqwest::Error) -> Failure {
        Failure {
            outcome: if error.is_redirect() {
                Outcome::Invalid
            } else {
                Outcome::Unreachable
            },
            message: error_chain(error),
        }
    }

    fn invalid(message: impl Into<String>) -> Failure {
        Failure {
            outcome: Outcome::Invalid,
            message: message.into(),
        }
    }
}

/// What a successful fetch brought.
struct Fetched {
    keys: Vec<jwks::SigningKey>,
    /// The JWKS answer's `Cache-Control: max-age`.
    max_age: Option<Duration>,
}

/// The schedule and the record of fetches.
#[derive(Default)]
struct FetchState {
    /// Fetches finished (whatever their outcome).
    completed: u64,
    last_attempt: Option<Instant>,
    last_outcome: Option<Outcome>,
    /// Failed fetches since the last good one.
    failures: u32,
    /// When the next scheduled fetch is due; `None`: now.
    next_due: Option<Instant>,
}

/// The state of the provider's keys, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyStatus {
    /// The last fetch succeeded.
    Fresh { age: Duration },
    /// The last fetch failed; the last good set (this old) is in force.
    Degraded { age: Duration, last: Outcome },
    /// No good fetch for longer than `auth.jwks_stale_secs`.
    Stale { age: Duration, last: Outcome },
    /// No good fetch yet: only tokens of configured local keys verify.
    NeverFetched { last: Option<Outcome> },
}

/// The provider's keys and how they are kept current.
pub(crate) struct Remote {
    source: Source,
    /// The configured address (`auth.jwks_url` or `auth.oidc_issuer`), which decides where
    /// redirects and discovery may lead ([`may_lead_to`]).
    configured: Url,
    /// The configured address (without query or fragment), in logs and the metrics.
    label: String,
    client: reqwest::Client,
    refresh: Duration,
    min_refetch: Duration,
    stale: Duration,
    rules: Arc<TokenRules>,
    /// The kids of keys configured locally, which a provider's key may not replace.
    local_kids: HashSet<String>,
    set: RwLock<Arc<KeySet>>,
    state: Mutex<FetchState>,
    fetching: tokio::sync::Mutex<()>,
}

impl Remote {
    /// The provider's key source from the settings, checked (addresses, intervals, the CA file);
    /// `None` when neither `auth.jwks_url` nor `auth.oidc_issuer` is set. Nothing is fetched yet.
    pub(super) fn from_settings(
        settings: &AuthSettings,
        rules: Arc<TokenRules>,
        local_kids: HashSet<String>,
    ) -> anyhow::Result<Option<Remote>> {
        let (source, configured) = match (&settings.jwks_url, &settings.oidc_issuer) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => bail!(
                "set either auth.jwks_url or auth.oidc_issuer (whose discovery document names \
                 the JWKS address), not both"
            ),
            (Some(url), None) => {
                let url = check_address(url, "auth.jwks_url")?;
                ensure!(
                    settings.issuer != crate::config::DEFAULT_ISSUER,
                    "auth.jwks_url is set but auth.issuer is left at its default {:?}: tokens from \
                     the identity provider carry the provider's own issuer in `iss`, so set \
                     auth.issuer to it (or configure auth.oidc_issuer instead of auth.jwks_url, \
                     and auth.issuer follows it)",
                    crate::config::DEFAULT_ISSUER
                );
                (Source::Jwks(url.clone()), url)
            }
            (None, Some(issuer)) => {
                let url = check_address(issuer, "auth.oidc_issuer")?;
                ensure!(
                    url.query().is_none() && url.fragment().is_none(),
                    "auth.oidc_issuer must not have a query or fragment"
                );
                ensure!(
                    settings.issuer == crate::config::DEFAULT_ISSUER || settings.issuer == *issuer,
                    "auth.issuer is {:?} but auth.oidc_issuer is {issuer:?}: tokens from an OIDC \
                     provider carry its issuer, so leave auth.issuer unset (it defaults to \
                     auth.oidc_issuer) or set it to the same value",
                    settings.issuer
                );
                let document = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let document = Url::parse(&document)
                    .with_context(|| format!("auth.oidc_issuer {issuer:?} is not an address"))?;
                (
                    Source::Discovery {
                        issuer: issuer.clone(),
                        document,
                    },
                    url,
                )
            }
        };
        ensure!(
            settings.jwks_min_refetch_secs >= 1,
            "auth.jwks_min_refetch_secs must be at least 1"
        );
        ensure!(
            settings.jwks_refresh_secs >= settings.jwks_min_refetch_secs,
            "auth.jwks_refresh_secs ({}) must be at least auth.jwks_min_refetch_secs ({})",
            settings.jwks_refresh_secs,
            settings.jwks_min_refetch_secs
        );
        ensure!(
            settings.jwks_stale_secs > settings.jwks_refresh_secs,
            "auth.jwks_stale_secs ({}) must be more than auth.jwks_refresh_secs ({}), or every \
             key set would turn stale before its refresh",
            settings.jwks_stale_secs,
            settings.jwks_refresh_secs
        );
        let client = client(settings, &configured)?;
        Ok(Some(Remote {
            source,
            label: label_of(&configured),
            configured,
            client,
            refresh: Duration::from_secs(settings.jwks_refresh_secs),
            min_refetch: Duration::from_secs(settings.jwks_min_refetch_secs),
            stale: Duration::from_secs(settings.jwks_stale_secs),
            rules,
            local_kids,
            set: RwLock::new(Arc::new(KeySet {
                keys: HashMap::new(),
                fetched: None,
            })),
            state: Mutex::new(FetchState::default()),
            fetching: tokio::sync::Mutex::new(()),
        }))
    }

    /// The provider's key of this `kid`, from the last good fetch.
    pub(super) fn key(&self, kid: &str) -> Option<Arc<PinnedKey>> {
        self.current().keys.get(kid).cloned()
    }

    /// The kids of the last good fetch, sorted.
    pub(super) fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.current().keys.keys().cloned().collect();
        kids.sort_unstable();
        kids
    }

    fn current(&self) -> Arc<KeySet> {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FetchState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A token named a key the hub does not know: fetches the key set again, unless a fetch
    /// finished while this call waited for one under way (it waits instead of starting another),
    /// or a fetch started less than `auth.jwks_min_refetch_secs` ago. Either way the caller
    /// looks the key up again afterwards: the key set may have changed since it looked, even
    /// when this call fetched nothing.
    pub(super) async fn refetch_for_unknown_key(&self) {
        let seen = self.state().completed;
        let _fetching = self.fetching.lock().await;
        let (completed, last_attempt) = {
            let state = self.state();
            (state.completed, state.last_attempt)
        };
        if completed != seen {
            // A fetch finished while this one waited: its key set is the newest there is.
            return;
        }
        if last_attempt.is_some_and(|last| last.elapsed() < self.min_refetch) {
            return;
        }
        self.fetch().await;
    }

    /// Fetches now (the fetch at start), after any fetch under way.
    pub(crate) async fn fetch_now(&self) {
        let _fetching = self.fetching.lock().await;
        self.fetch().await;
    }

    /// Keeps the key set current: fetches when due (at once the first time), then sleeps until
    /// the next fetch is due. Runs until the task is dropped.
    pub(crate) async fn keep_current(self: Arc<Self>) {
        loop {
            let due = self.state().next_due;
            if let Some(due) = due {
                tokio::time::sleep(due.saturating_duration_since(Instant::now())).await;
            }
            let _fetching = self.fetching.lock().await;
            // A fetch for an unknown key may have run meanwhile and moved the schedule.
            if self
                .state()
                .next_due
                .is_none_or(|due| due <= Instant::now())
            {
                self.fetch().await;
            }
        }
    }

    /// The state of the key set, for `/readyz`.
    pub(crate) fn status(&self) -> KeyStatus {
        let fetched = self.current().fetched;
        let last = self.state().last_outcome;
        match (fetched, last) {
            (None, last) => KeyStatus::NeverFetched { last },
            (Some(fetched), last) => {
                let age = fetched.elapsed();
                let last = last.unwrap_or(Outcome::Ok);
                if age > self.stale {
                    KeyStatus::Stale { age, last }
                } else if last == Outcome::Ok {
                    KeyStatus::Fresh { age }
                } else {
                    KeyStatus::Degraded { age, last }
                }
            }
        }
    }

    /// Updates the key set's gauges (its age and size) before the metrics are rendered.
    pub(crate) fn export_metrics(&self) {
        let set = self.current();
        telemetry::jwks_key_set(
            &self.label,
            set.keys.len(),
            set.fetched.map(|fetched| fetched.elapsed()),
        );
    }

    /// One fetch; the caller holds `fetching`. Never fails: a failure keeps the last good set.
    async fn fetch(&self) {
        {
            self.state().last_attempt = Some(Instant::now());
        }
        let result = self.download().await;
        let now = Instant::now();
        let outcome = match result {
            Ok(fetched) => {
                let next = fetched.max_age.map_or(self.refresh, |age| {
                    age.clamp(self.min_refetch, self.refresh)
                });
                self.install(fetched.keys, now);
                let mut state = self.state();
                state.failures = 0;
                state.next_due = Some(now + next);
                Outcome::Ok
            }
            Err(failure) => {
                let mut state = self.state();
                state.failures = state.failures.saturating_add(1);
                let retry = Duration::from_secs(1u64 << state.failures.min(16).saturating_sub(1))
                    .min(MAX_RETRY)
                    .min(self.refresh);
                state.next_due = Some(now + retry);
                let kept = self
                    .current()
                    .fetched
                    .map(|fetched| fetched.elapsed().as_secs());
                tracing::warn!(
                    source = %self.label,
                    outcome = failure.outcome.as_str(),
                    error = %failure.message,
                    failures = state.failures,
                    retry_secs = retry.as_secs(),
                    last_good_age_secs = kept,
                    "cannot fetch the identity provider's keys; the last good key set stays in force"
                );
                failure.outcome
            }
        };
        {
            let mut state = self.state();
            state.last_outcome = Some(outcome);
            state.completed += 1;
        }
        telemetry::jwks_fetched(
            &self.label,
            outcome.as_str(),
            &Outcome::ALL.map(Outcome::as_str),
        );
    }

    /// Makes a fetched key set the one in force, logging the kids that came and went.
    fn install(&self, keys: Vec<jwks::SigningKey>, fetched: Instant) {
        let mut pinned = HashMap::with_capacity(keys.len());
        for key in keys {
            if self.local_kids.contains(&key.kid) {
                tracing::warn!(
                    source = %self.label,
                    kid = %key.kid,
                    "ignoring the provider's key of a kid configured locally"
                );
                continue;
            }
            let pinned_key = PinnedKey::new(key.algorithm, key.key, &self.rules);
            pinned.insert(key.kid, Arc::new(pinned_key));
        }
        let before: BTreeSet<String> = self.current().keys.keys().cloned().collect();
        let after: BTreeSet<String> = pinned.keys().cloned().collect();
        let added: Vec<&String> = after.difference(&before).collect();
        let removed: Vec<&String> = before.difference(&after).collect();
        if added.is_empty() && removed.is_empty() {
            tracing::debug!(source = %self.label, keys = after.len(), "identity provider keys unchanged");
        } else {
            tracing::info!(
                source = %self.label,
                ?added,
                ?removed,
                keys = after.len(),
                "identity provider keys changed"
            );
        }
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(KeySet {
            keys: pinned,
            fetched: Some(fetched),
        });
    }

    /// The discovery document (when configured), then the key set.
    async fn download(&self) -> Result<Fetched, Failure> {
        let jwks_url = match &self.source {
            Source::Jwks(url) => url.clone(),
            Source::Discovery { issuer, document } => {
                let (body, _) = self.get(document).await?;
                discovered_jwks_uri(&body, issuer, &self.configured)?
            }
        };
        let (body, headers) = self.get(&jwks_url).await?;
        let keys = jwks::parse(&body, jwks_url.as_str(), Strictness::Provider)
            .map_err(|error| Failure::invalid(format!("the key set: {error:#}")))?;
        Ok(Fetched {
            keys,
            max_age: max_age(&headers),
        })
    }

    /// One bounded GET: a 2xx answer's body (at most [`MAX_DOCUMENT_BYTES`]) and headers.
    async fn get(&self, url: &Url) -> Result<(Vec<u8>, HeaderMap), Failure> {
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| Failure::request(&error))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Failure {
                outcome: Outcome::HttpError,
                message: format!("{url} answered HTTP {}", status.as_u16()),
            });
        }
        let too_large =
            || Failure::invalid(format!("{url} sent more than {MAX_DOCUMENT_BYTES} bytes"));
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(too_large());
        }
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| Failure::request(&error))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, headers))
    }
}

/// The HTTP client: timeouts, redirects only where the configured address may lead
/// ([`may_lead_to`]), no proxy, and the extra trusted certificates of `auth.jwks_ca_file`.
///
/// Proxies from the environment are not used: a plain-HTTP fetch on loopback must not leave the
/// host through one, and an HTTPS fetch goes to the provider directly.
fn client(settings: &AuthSettings, configured: &Url) -> anyhow::Result<reqwest::Client> {
    let configured = configured.clone();
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if !may_lead_to(&configured, attempt.url()) {
            let refusal = if configured.scheme() == "https" {
                "a redirect to an address that is not https:// (an https:// address never \
                 leads to plain http://)"
            } else {
                "a redirect to an address that is neither https:// nor http:// on loopback"
            };
            attempt.error(refusal)
        } else {
            attempt.follow()
        }
    });
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(redirects)
        .user_agent(concat!("firearms-hub/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &settings.jwks_ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("auth.jwks_ca_file {}: cannot read it", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!("auth.jwks_ca_file {}: not PEM certificates", path.display())
        })?;
        ensure!(
            !certificates.is_empty(),
            "auth.jwks_ca_file {}: no certificate found",
            path.display()
        );
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .context("cannot set up the HTTP client for the identity provider")
}

/// Checks an address setting: https://, or http:// on loopback; no credentials.
pub(super) fn check_address(text: &str, setting: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text.trim())
        .map_err(|error| anyhow::anyhow!("{setting} is not an address: {error}"))?;
    ensure!(
        url.username().is_empty() && url.password().is_none(),
        "{setting} must not carry credentials"
    );
    ensure!(
        allowed(&url),
        "{setting} must be an https:// address (http:// is allowed only on loopback: 127.0.0.1, \
         [::1] or localhost), not {text:?}"
    );
    ensure!(
        url.host_str().is_some_and(|host| !host.is_empty()),
        "{setting} must name a host"
    );
    Ok(url)
}

/// Whether the hub may fetch keys from this address: https://, or http:// on loopback.
fn allowed(url: &Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(is_loopback),
        _ => false,
    }
}

/// Whether a fetch from the configured address may go on to `target` (a redirect, or the
/// `jwks_uri` of the discovery document): https:// always; http:// only on loopback, and only
/// when the configured address is itself http:// on loopback, so an https:// provider can never
/// send the hub to plain http://, not even on loopback.
fn may_lead_to(configured: &Url, target: &Url) -> bool {
    match target.scheme() {
        "https" => true,
        "http" => configured.scheme() == "http" && allowed(configured) && allowed(target),
        _ => false,
    }
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// An address for logs and metrics: scheme, host, port and path.
fn label_of(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// The `jwks_uri` of a discovery document, which must name `issuer` exactly; it may lead only
/// where the configured issuer address may ([`may_lead_to`]).
fn discovered_jwks_uri(body: &[u8], issuer: &str, configured: &Url) -> Result<Url, Failure> {
    let document: Value = serde_json::from_slice(body)
        .map_err(|_| Failure::invalid("the discovery document is not JSON"))?;
    match document.get("issuer") {
        Some(Value::String(named)) if named == issuer => {}
        Some(Value::String(named)) => {
            return Err(Failure::invalid(format!(
                "the discovery document names the issuer {named:?}, not auth.oidc_issuer \
                 {issuer:?}"
            )));
        }
        _ => return Err(Failure::invalid("the discovery document has no `issuer`")),
    }
    let Some(Value::String(uri)) = document.get("jwks_uri") else {
        return Err(Failure::invalid("the discovery document has no `jwks_uri`"));
    };
    let uri = check_address(uri, "the discovered jwks_uri")
        .map_err(|error| Failure::invalid(error.to_string()))?;
    if !may_lead_to(configured, &uri) {
        return Err(Failure::invalid(format!(
            "the discovered jwks_uri {} is plain http:// but auth.oidc_issuer is {}: an https:// \
             issuer never leads to plain http://",
            label_of(&uri),
            label_of(configured)
        )));
    }
    Ok(uri)
}

/// `max-age` of a `Cache-Control` header, if it has one.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|directive| {
            let (name, value) = directive.trim().split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("max-age") {
                return None;
            }
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
        .map(Duration::from_secs)
}

/// An error and its causes, for the log.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_https_except_on_loopback() {
        for good in [
            "https://idp.example.gov/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.0.0.2/jwks",
            "http://[::1]:9000/jwks",
            "http://localhost/jwks",
            "http://LocalHost:1/x",
        ] {
            assert!(check_address(good, "auth.jwks_url").is_ok(), "{good}");
        }
        for bad in [
            "http://idp.example.gov/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.example.gov/jwks",
            "ftp://127.0.0.1/jwks",
            "file:///etc/jwks.json",
        ] {
            let error = check_address(bad, "auth.jwks_url")
                .expect_err(bad)
                .to_string();
            assert!(
                error.contains("auth.jwks_url") && error.contains("https://"),
                "{error}"
            );
        }
        let error = check_address("https://user:pw@idp.example.gov/", "auth.jwks_url")
            .expect_err("credentials")
            .to_string();
        assert!(
            error.contains("credentials") && !error.contains("pw"),
            "{error}"
        );
        assert!(check_address("not a url", "auth.jwks_url").is_err());
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            CACHE_CONTROL,
            "public, max-age=120, must-revalidate"
                .parse()
                .expect("header"),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(120)));
        headers.insert(CACHE_CONTROL, "no-cache".parse().expect("header"));
        assert_eq!(max_age(&headers), None);
        headers.insert(CACHE_CONTROL, "Max-Age=\"7\"".parse().expect("header"));
        assert_eq!(max_age(&headers), Some(Duration::from_secs(7)));
    }

    fn url(text: &str) -> Url {
        Url::parse(text).expect("an address")
    }

    #[test]
    fn https_never_leads_to_plain_http() {
        let https = url("https://idp.example.gov/realms/hub");
        let https_loopback = url("https://127.0.0.1:8443/jwks");
        let http_loopback = url("http://127.0.0.1:8080/jwks");
        // HTTPS targets are fine from anywhere.
        for configured in [&https, &https_loopback, &http_loopback] {
            assert!(may_lead_to(
                configured,
                &url("https://keys.example.gov/certs")
            ));
            assert!(may_lead_to(configured, &url("https://localhost/certs")));
        }
        // Plain HTTP on loopback only from plain HTTP on loopback.
        for target in [
            "http://127.0.0.1:9/jwks",
            "http://[::1]/jwks",
            "http://localhost:8080/jwks",
        ] {
            assert!(may_lead_to(&http_loopback, &url(target)), "{target}");
            assert!(!may_lead_to(&https, &url(target)), "{target}");
            assert!(!may_lead_to(&https_loopback, &url(target)), "{target}");
        }
        // Plain HTTP elsewhere, and other schemes, never.
        for target in ["http://keys.example.gov/certs", "ftp://127.0.0.1/jwks"] {
            for configured in [&https, &https_loopback, &http_loopback] {
                assert!(!may_lead_to(configured, &url(target)), "{target}");
            }
        }
    }

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let issuer = "https://idp.example.gov/realms/hub";
        let configured = url(issuer);
        let good =
            serde_json::json!({"issuer": issuer, "jwks_uri": "https://idp.example.gov/certs"});
        let uri = discovered_jwks_uri(good.to_string().as_bytes(), issuer, &configured).ok();
        assert_eq!(
            uri.map(String::from),
            Some("https://idp.example.gov/certs".to_owned())
        );
        for (document, mentions) in [
            (
                serde_json::json!({"issuer": "https://evil.example", "jwks_uri": "https://idp.example.gov/certs"}),
                "evil.example",
            ),
            (
                serde_json::json!({"issuer": format!("{issuer}/"), "jwks_uri": "https://idp.example.gov/certs"}),
                "not auth.oidc_issuer",
            ),
            (
                serde_json::json!({"jwks_uri": "https://idp.example.gov/certs"}),
                "no `issuer`",
            ),
            (serde_json::json!({"issuer": issuer}), "no `jwks_uri`"),
            (
                serde_json::json!({"issuer": issuer, "jwks_uri": "http://idp.example.gov/certs"}),
                "https://",
            ),
        ] {
            let failure = discovered_jwks_uri(document.to_string().as_bytes(), issuer, &configured)
                .expect_err("refused");
            assert_eq!(failure.outcome, Outcome::Invalid);
            assert!(failure.message.contains(mentions), "{}", failure.message);
        }
        let failure = discovered_jwks_uri(b"<html>", issuer, &configured).expect_err("refused");
        assert!(failure.message.contains("not JSON"));

        // An https:// issuer's document may not send the hub to plain http://, even on loopback;
        // a plain http:// issuer on loopback may.
        let plain = serde_json::json!({"issuer": issuer, "jwks_uri": "http://127.0.0.1:8080/jwks"});
        let failure = discovered_jwks_uri(plain.to_string().as_bytes(), issuer, &configured)
            .expect_err("refused");
        assert_eq!(failure.outcome, Outcome::Invalid);
        assert!(
            failure.message.contains("plain http://") && failure.message.contains(issuer),
            "{}",
            failure.message
        );
        let local = "http://127.0.0.1:8080/realms/hub";
        let plain = serde_json::json!({"issuer": local, "jwks_uri": "http://127.0.0.1:8080/jwks"});
        let uri = discovered_jwks_uri(plain.to_string().as_bytes(), local, &url(local)).ok();
        assert_eq!(
            uri.map(String::from),
            Some("http://127.0.0.1:8080/jwks".to_owned())
        );
    }
}
