//! The browser's files: everything under `web/static/` is embedded in the binary at build time
//! (the vendored libraries, the portal and GraphiQL's start-up script) and served at
//! `GET /static/{path}` with its content type and a strong `ETag` (the SHA-256 of its bytes, so a
//! browser revalidates with `If-None-Match` and gets `304 Not Modified`). Nothing a page loads
//! comes from another origin. `GET /` is the portal's page; `GET /graphql` in development mode is
//! GraphiQL's.
//!
//! Every response of the server carries the security headers of [`security_headers`]: a strict
//! Content-Security-Policy (scripts only from this origin, no inline script, no `eval`), no
//! sniffing, no referrer, no framing.

use actix_web::http::header::{self, EntityTag, HeaderValue, IfNoneMatch};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

/// The files under `web/static/`, embedded in the binary (in debug builds too).
#[derive(RustEmbed)]
#[folder = "web/static/"]
struct Static;

/// The portal's page, served at `/`.
const PORTAL_PAGE: &str = "portal/index.html";
/// GraphiQL's page, served at `GET /graphql` in development mode.
const GRAPHIQL_PAGE: &str = "graphiql/index.html";

/// The Content-Security-Policy of every response. Scripts and styles come only from this origin,
/// as files: no inline script, no `eval`, no inline `<style>` element or `style` attribute in
/// markup (styles set through the DOM, as React and CodeMirror set them, are not inline styles).
/// Images and fonts may also be `data:` URLs, which GraphiQL's stylesheet uses for its icons.
///
/// GraphiQL works under it without `'unsafe-inline'`: loading, editing, running operations and
/// the documentation explorer need no inline style. Only its modal dialogs (settings, keyboard
/// shortcuts) try to add a `<style>` element that locks the page's scrolling while they are open;
/// the browser refuses it, which changes nothing on a page that does not scroll, so styles stay
/// strict too.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     connect-src 'self'; img-src 'self' data:; style-src 'self'; font-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every response carries.
pub(crate) fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// `GET /static/{path}`: an embedded file, or 404.
pub(crate) async fn static_file(req: HttpRequest) -> HttpResponse {
    let path = req.match_info().query("path");
    serve(&req, path)
}

/// `GET /`: the portal's page.
pub(crate) async fn portal(req: HttpRequest) -> HttpResponse {
    serve(&req, PORTAL_PAGE)
}

/// GraphiQL's page (the caller decides whether it is served).
pub(crate) fn graphiql(req: &HttpRequest) -> HttpResponse {
    serve(req, GRAPHIQL_PAGE)
}

/// An embedded file with its content type and strong `ETag`; `304` when the client holds it;
/// 404 (with an empty body, as for any unknown path) when there is no such file.
fn serve(req: &HttpRequest, path: &str) -> HttpResponse {
    // Only plain relative paths name a file: no empty, `.` or `..` segment, no backslash.
    let plain = !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    let Some(file) = plain.then(|| Static::get(path)).flatten() else {
        return HttpResponse::NotFound().finish();
    };
    let etag = EntityTag::new_strong(hex::encode(file.metadata.sha256_hash()));
    let cached = match req.get_header::<IfNoneMatch>() {
        Some(IfNoneMatch::Any) => true,
        Some(IfNoneMatch::Items(tags)) => tags.iter().any(|tag| tag.weak_eq(&etag)),
        None => false,
    };
    let mut response = if cached {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(header::ETag(etag))
        // The names carry no hash, so the browser asks again each time; the ETag makes the
        // answer a 304 without a body while the file is unchanged.
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if cached {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, content_type(path)))
        .body(file.data.into_owned())
}

/// The content type of a file by its extension; text is UTF-8.
fn content_type(path: &str) -> HeaderValue {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    HeaderValue::from_static(match extension.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ if path.rsplit('/').next() == Some("SHA256SUMS") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(
            content_type("vendor/graphiql.min.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("portal/index.html"),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type("vendor/graphiql.min.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            content_type("vendor/SHA256SUMS"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(content_type("x/unknown.bin"), "application/octet-stream");
    }

    #[test]
    fn the_pages_and_vendored_libraries_are_embedded() {
        let paths: Vec<String> = Static::iter().map(|p| p.into_owned()).collect();
        for path in [
            PORTAL_PAGE,
            GRAPHIQL_PAGE,
            "graphiql/init.js",
            "vendor/react.production.min.js",
            "vendor/react-dom.production.min.js",
            "vendor/graphiql.min.js",
            "vendor/graphiql.min.css",
            "vendor/chart.umd.js",
        ] {
            assert!(paths.iter().any(|p| p == path), "{path} is not embedded");
        }
    }
}
