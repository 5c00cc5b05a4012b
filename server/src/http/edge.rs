//! Checks made on every request before routing, so that what the framework would refuse
//! in plain text (or without a trace) is answered in French, as JSON, and recorded.
//!
//! - Headers over [`MAX_HEADERS`] or [`MAX_HEADER_BYTES`]: 431. The HTTP layer's own
//!   limits are set well above these (see `crate::serve`), so that the refusal reaches
//!   this check; only beyond those does a client get the HTTP layer's bare 431.
//! - A path whose percent-encoded bytes are not UTF-8: 400 (the router would answer a
//!   plain-text error from the path extractor).
//! - Under `/api/v1`, a path no route matches (404) or a method the route does not take
//!   (405): answered and recorded by [`unknown_route`] and [`method_not_allowed`], the
//!   API router's fallbacks (the web client's pages would answer otherwise).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::ClientInfo;
use crate::error::ApiError;
use crate::state::AppState;

/// Most header fields a request may have (hyper's own default, now answered in JSON).
pub const MAX_HEADERS: usize = 100;
/// Most bytes of header fields (names, values and separators) a request may have.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The middleware.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let refusal = if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        Some(("headers_too_large", ApiError::HeadersTooLarge))
    } else if !path_is_utf8(request.uri().path()) {
        Some((
            "path_encoding",
            ApiError::BadRequest("adresse mal encodée (UTF-8 attendu)".into()),
        ))
    } else {
        None
    };
    let Some((reason, error)) = refusal else {
        return next.run(request).await;
    };
    let (parts, _body) = request.into_parts();
    let client = ClientInfo::from_parts(&parts, &state.config);
    let path: String = parts.uri.path().chars().take(200).collect();
    state
        .record_denial(
            client.anonymous_actor(),
            "request_malformed",
            None,
            json!({ "reason": reason, "path": path }),
        )
        .await;
    error.into_response()
}

/// The API router's fallback: no such route.
pub async fn unknown_route(State(state): State<AppState>, request: Request) -> Response {
    refuse(&state, request, "unknown_route", ApiError::NotFound).await
}

/// The API router's fallback for a known path with another method.
pub async fn method_not_allowed(State(state): State<AppState>, request: Request) -> Response {
    refuse(
        &state,
        request,
        "method_not_allowed",
        ApiError::MethodNotAllowed,
    )
    .await
}

async fn refuse(state: &AppState, request: Request, reason: &str, error: ApiError) -> Response {
    let (parts, _body) = request.into_parts();
    let client = ClientInfo::from_parts(&parts, &state.config);
    let path: String = parts.uri.path().chars().take(200).collect();
    state
        .record_denial(
            client.anonymous_actor(),
            "request_malformed",
            None,
            json!({ "reason": reason, "path": path, "method": parts.method.as_str() }),
        )
        .await;
    error.into_response()
}

/// Whether the path, once percent-decoded, is UTF-8.
fn path_is_utf8(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(value) = hex {
                decoded.push(value);
                i += 3;
                continue;
            }
        }
        decoded.push(byte);
        i += 1;
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::path_is_utf8;

    #[test]
    fn paths_are_checked_after_percent_decoding() {
        assert!(path_is_utf8("/api/v1/channels/abc"));
        assert!(path_is_utf8("/api/v1/channels/%C3%A9t%C3%A9"));
        assert!(path_is_utf8("/a%2"));
        assert!(!path_is_utf8("/api/v1/channels/%FF"));
        assert!(!path_is_utf8("/api/v1/channels/%C3"));
    }
}
