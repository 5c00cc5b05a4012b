//! The browser client, embedded in the binary at compile time so that `cargo run` needs
//! nothing else, and the security headers of every response.

pub mod bundle;
pub mod check;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../web-client/"]
struct Assets;

/// The Content-Security-Policy: our own scripts, styles and connections only; no inline
/// code; no framing.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'; object-src 'none'";

/// Serves an embedded file; unknown paths get the application's page, so that
/// client-side routes survive a reload.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    // The application's page, pinning every script and style; client-side routes (no
    // extension) get it too, so that they survive a reload.
    if path == "index.html" || (!path.contains('.') && Assets::get(path).is_none()) {
        let bundle = bundle::bundle();
        let policy = HeaderValue::from_str(&bundle.page_csp)
            .unwrap_or_else(|_| HeaderValue::from_static(CSP));
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(mime_of("index.html")),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (header::CONTENT_SECURITY_POLICY, policy),
            ],
            bundle.page.clone(),
        )
            .into_response();
    }
    let file = Assets::get(path);
    match file {
        Some(file) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(mime_of(path)),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            file.data,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}
