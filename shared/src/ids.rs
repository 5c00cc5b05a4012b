//! Validated identifiers that cross the wire.
//!
//! Logins are normalised once, here, so that "Marie.Dupont" and "marie.dupont" are one
//! account everywhere: in the database, in throttling and in the access log.

use thiserror::Error;

/// Why a login was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoginError {
    /// Fewer than 3 or more than 64 characters.
    #[error("a login has 3 to 64 characters")]
    Length,
    /// Something other than a–z, 0–9, `.`, `-`, `_`.
    #[error("a login uses only a-z, 0-9, '.', '-' and '_'")]
    Characters,
}

/// Normalises and validates a login: trimmed, lower-case ASCII letters, digits, `.`, `-`, `_`.
pub fn normalise_login(raw: &str) -> Result<String, LoginError> {
    let login = raw.trim().to_ascii_lowercase();
    if !(3..=64).contains(&login.len()) {
        return Err(LoginError::Length);
    }
    if !login
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(LoginError::Characters);
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_case_insensitive_and_trimmed() {
        assert_eq!(
            normalise_login("  Marie.Dupont ").as_deref(),
            Ok("marie.dupont")
        );
    }

    #[test]
    fn logins_with_other_characters_are_refused() {
        assert_eq!(normalise_login("marie dupont"), Err(LoginError::Characters));
        assert_eq!(normalise_login("élodie"), Err(LoginError::Characters));
        assert_eq!(normalise_login("ab"), Err(LoginError::Length));
    }
}
