//! Development tokens over HTTP, for the portal's role picker and GraphiQL's token bar:
//! `GET /dev/roles` lists the roles and scopes a development token may carry, and
//! `POST /dev/token` mints one, signed exactly as `firearms-hub token` signs it.
//!
//! The routes exist only in development mode (otherwise they are unknown paths: 404 like any
//! other) and answer only a caller on this machine: the peer must be a loopback address, the
//! `Host` a loopback name (so a page of another site whose name was pointed at 127.0.0.1 cannot
//! use them) and an `Origin`, when the browser sends one, this server's own. Anyone else gets 403.
//!
//! A reverse proxy on the same machine would make every caller look local (its peer address is
//! loopback, and it may pass the `Host` through), so a request that carries any of the headers a
//! proxy adds (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host`, `X-Real-IP`) is refused too:
//! development mode must not run behind a proxy.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::config::AuthSettings;
use crate::policy::Policy;

/// How long a development token from `POST /dev/token` is valid: the default of
/// `firearms-hub token`.
pub(crate) const DEV_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);

/// What the development routes need: the signing settings and the policy's roles.
pub(crate) struct DevTokens {
    pub auth: AuthSettings,
    pub policy: Arc<Policy>,
}

/// Adds the development routes (called only in development mode).
pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/dev/roles", web::get().to(roles))
        .route("/dev/token", web::post().to(token));
}

/// The body of `POST /dev/token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    role: String,
    #[serde(default)]
    scopes: Vec<String>,
}

fn refuse(status: actix_web::http::StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message }))
}

/// The headers a reverse proxy adds to say whom it is forwarding for.
const PROXY_HEADERS: [&str; 4] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
];

/// Why a request is not from this machine, if it is not.
fn not_local(req: &HttpRequest) -> Option<&'static str> {
    if PROXY_HEADERS
        .iter()
        .any(|name| req.headers().contains_key(*name))
    {
        return Some(
            "development tokens are not given through a proxy (the request carries Forwarded, \
             X-Forwarded-For, X-Forwarded-Host or X-Real-IP); development mode must not run \
             behind a proxy",
        );
    }
    let peer_is_loopback = req
        .peer_addr()
        .is_some_and(|addr| addr.ip().to_canonical().is_loopback());
    if !peer_is_loopback {
        return Some("development tokens are given only to a caller on this machine (loopback)");
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    if !host.is_some_and(is_loopback_authority) {
        return Some("development tokens are given only to a page addressed by a loopback name");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .is_some_and(|(_, authority)| Some(authority) == host);
        if !same {
            return Some("development tokens are given only to this server's own pages");
        }
    }
    None
}

/// Whether `host[:port]` names this machine: `localhost`, a 127.x.x.x address or `[::1]`.
fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or(rest, |(h, _)| h),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// `GET /dev/roles`: the policy's roles and the scopes a development token may carry.
async fn roles(req: HttpRequest, dev: web::Data<DevTokens>) -> HttpResponse {
    if let Some(why) = not_local(&req) {
        return refuse(actix_web::http::StatusCode::FORBIDDEN, why);
    }
    let roles: Vec<&str> = dev.policy.roles.keys().map(|r| r.as_str()).collect();
    HttpResponse::Ok().json(json!({
        "roles": roles,
        "scopes": crate::auth::KNOWN_SCOPES,
    }))
}

/// `POST /dev/token`: a development token for a role of the policy and known scopes.
async fn token(req: HttpRequest, body: web::Bytes, dev: web::Data<DevTokens>) -> HttpResponse {
    use actix_web::http::StatusCode;
    if let Some(why) = not_local(&req) {
        return refuse(StatusCode::FORBIDDEN, why);
    }
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as JSON with Content-Type: application/json, e.g. \
             {\"role\":\"ATF\",\"scopes\":[\"pii\"]}",
        );
    }
    let asked: TokenRequest = match serde_json::from_slice(&body) {
        Ok(asked) => asked,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the body must be {{\"role\": ROLE, \"scopes\": [SCOPE, …]}} (scopes \
                     optional): {error}"
                ),
            );
        }
    };
    let role = crate::auth::parse_role_exact(&asked.role)
        .filter(|role| dev.policy.roles.contains_key(role));
    let Some(role) = role else {
        let known: Vec<&str> = dev.policy.roles.keys().map(|r| r.as_str()).collect();
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "unknown role {:?}; the roles are {}",
                asked.role,
                known.join(", ")
            ),
        );
    };
    if let Some(unknown) = asked
        .scopes
        .iter()
        .find(|s| !crate::auth::KNOWN_SCOPES.contains(&s.as_str()))
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!(
                "unknown scope {unknown:?}; the scopes are {}",
                crate::auth::KNOWN_SCOPES.join(", ")
            ),
        );
    }
    let subject = format!("dev-{}", role.as_str().to_ascii_lowercase());
    let expires = chrono::Utc::now()
        + chrono::Duration::from_std(DEV_TOKEN_TTL).unwrap_or(chrono::Duration::hours(1));
    match crate::auth::mint_dev_token(&dev.auth, role, &asked.scopes, DEV_TOKEN_TTL, &subject) {
        Ok(token) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(json!({
                "token": token,
                "role": role.as_str(),
                "expiresAt": expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            })),
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "cannot mint a development token");
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("cannot mint a development token: {error:#}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test as web_test};

    use super::*;

    fn app_data() -> web::Data<DevTokens> {
        web::Data::new(DevTokens {
            auth: AuthSettings {
                dev_secret: Some(secrecy::SecretString::from(
                    "unit-test-only-development-secret-0123456789",
                )),
                ..AuthSettings::default()
            },
            policy: Arc::new(Policy::default_policy()),
        })
    }

    #[actix_web::test]
    async fn a_peer_off_this_machine_is_refused() {
        let app = web_test::init_service(App::new().app_data(app_data()).configure(routes)).await;
        for (peer, host) in [
            ("10.1.2.3:50000", "127.0.0.1:8080"),
            ("[2001:db8::1]:50000", "localhost:8080"),
        ] {
            let request = web_test::TestRequest::post()
                .uri("/dev/token")
                .peer_addr(peer.parse().expect("address"))
                .insert_header((header::HOST, host))
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(r#"{"role":"ATF"}"#)
                .to_request();
            let response = web_test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), 403, "{peer}");
            let body: serde_json::Value = web_test::read_body_json(response).await;
            assert!(
                body["error"]
                    .as_str()
                    .is_some_and(|m| m.contains("loopback"))
            );
            assert!(body.get("token").is_none());

            let request = web_test::TestRequest::get()
                .uri("/dev/roles")
                .peer_addr(peer.parse().expect("address"))
                .insert_header((header::HOST, host))
                .to_request();
            let response = web_test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), 403, "{peer}");
        }
    }

    #[actix_web::test]
    async fn a_rebound_name_or_a_foreign_origin_is_refused_on_loopback() {
        let app = web_test::init_service(App::new().app_data(app_data()).configure(routes)).await;
        let cases = [
            ("evil.example:8080", None),
            ("127.0.0.1:8080", Some("http://evil.example")),
            ("127.0.0.1:8080", Some("http://127.0.0.1:9999")),
        ];
        for (host, origin) in cases {
            let mut request = web_test::TestRequest::post()
                .uri("/dev/token")
                .peer_addr("127.0.0.1:50000".parse().expect("address"))
                .insert_header((header::HOST, host))
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(r#"{"role":"ATF"}"#);
            if let Some(origin) = origin {
                request = request.insert_header((header::ORIGIN, origin));
            }
            let response = web_test::call_service(&app, request.to_request()).await;
            assert_eq!(response.status().as_u16(), 403, "{host} {origin:?}");
        }
        // The same request from the server's own page on loopback is answered.
        let request = web_test::TestRequest::post()
            .uri("/dev/token")
            .peer_addr("[::1]:50000".parse().expect("address"))
            .insert_header((header::HOST, "[::1]:8080"))
            .insert_header((header::ORIGIN, "http://[::1]:8080"))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .set_payload(r#"{"role":"ICE"}"#)
            .to_request();
        let response = web_test::call_service(&app, request).await;
        assert_eq!(response.status().as_u16(), 200);
        let body: serde_json::Value = web_test::read_body_json(response).await;
        assert_eq!(body["role"], "ICE");
    }

    #[actix_web::test]
    async fn a_request_through_a_proxy_is_refused_on_loopback() {
        let app = web_test::init_service(App::new().app_data(app_data()).configure(routes)).await;
        let forwarded = [
            ("Forwarded", "for=203.0.113.7;host=127.0.0.1:8080"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("x-forwarded-host", "127.0.0.1:8080"),
            ("X-Real-IP", "203.0.113.7"),
        ];
        for (name, value) in forwarded {
            let request = web_test::TestRequest::post()
                .uri("/dev/token")
                .peer_addr("127.0.0.1:50000".parse().expect("address"))
                .insert_header((header::HOST, "127.0.0.1:8080"))
                .insert_header((name, value))
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload(r#"{"role":"ATF"}"#)
                .to_request();
            let response = web_test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), 403, "{name}");
            let body: serde_json::Value = web_test::read_body_json(response).await;
            assert!(
                body["error"].as_str().is_some_and(|m| m.contains("proxy")),
                "{name}: {body}"
            );
            assert!(body.get("token").is_none());

            let request = web_test::TestRequest::get()
                .uri("/dev/roles")
                .peer_addr("127.0.0.1:50000".parse().expect("address"))
                .insert_header((header::HOST, "127.0.0.1:8080"))
                .insert_header((name, value))
                .to_request();
            let response = web_test::call_service(&app, request).await;
            assert_eq!(response.status().as_u16(), 403, "{name}");
        }
    }

    #[test]
    fn loopback_authorities() {
        for yes in [
            "localhost",
            "localhost:8080",
            "127.0.0.1:1",
            "127.8.9.10",
            "[::1]:80",
        ] {
            assert!(is_loopback_authority(yes), "{yes}");
        }
        for no in [
            "example.gov",
            "10.0.0.1:8080",
            "[2001:db8::1]:80",
            "localhost.evil:80",
        ] {
            assert!(!is_loopback_authority(no), "{no}");
        }
    }
}
