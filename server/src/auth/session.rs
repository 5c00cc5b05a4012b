//! Session tokens: 256 random bits, given to the client once, stored only as SHA-256.

use axum::http::{header, HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use zeroize::Zeroizing;

/// The browser session cookie. `__Host-` makes browsers refuse it unless it is Secure,
/// host-only and for the whole path.
pub const COOKIE_NAME: &str = "__Host-passerelle-session";

/// A new token (the caller gives it to the client and forgets it) and its stored hash.
pub fn new_token(
    random: impl FnOnce(&mut [u8]) -> anyhow::Result<()>,
) -> anyhow::Result<(Zeroizing<String>, String)> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    random(bytes.as_mut())?;
    let token = Zeroizing::new(B64.encode(bytes.as_ref()));
    let hash = hash_token(&token);
    Ok((token, hash))
}

/// The stored form of a token. Lookups go by this hash, so the database never holds
/// anything that opens a session and no token is compared byte by byte in memory.
pub fn hash_token(token: &str) -> String {
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// `Authorization: Bearer …`, if present.
pub fn bearer_token(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    (!token.is_empty()).then(|| Zeroizing::new(token.to_owned()))
}

/// The session cookie, if present.
pub fn cookie_token(headers: &HeaderMap) -> Option<Zeroizing<String>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, token)| Zeroizing::new(token.to_owned()))
}

/// The `Set-Cookie` value that opens a browser session.
pub fn set_cookie(
    token: &str,
    max_age_secs: i64,
) -> Result<HeaderValue, header::InvalidHeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_secs}"
    ))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-passerelle-session=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_only_as_its_hash() {
        let (token, hash) = new_token(|buf| {
            buf.fill(1);
            Ok(())
        })
        .unwrap();
        assert_eq!(token.len(), 43);
        assert_ne!(*token, hash);
        assert_eq!(hash_token(&token), hash);
    }

    #[test]
    fn tokens_are_found_in_bearer_and_cookie_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; __Host-passerelle-session=tok; c=d"),
        );
        assert_eq!(
            cookie_token(&headers).as_deref().map(String::as_str),
            Some("tok")
        );
        assert!(bearer_token(&headers).is_none());
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(
            bearer_token(&headers).as_deref().map(String::as_str),
            Some("abc")
        );
    }
}
